// bin/solute keys ... and limits ...: output contracts, errors, keys stored hashed, schema migration.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { BIN, cli, freePort, makeEvent, spawnServer, tempDir } from '../helpers/solute.js';
import { dataPaths } from '../../src/main.js';

function run(dataDir: string, ...args: string[]) {
  const r = spawnSync(BIN, args, { env: { ...process.env, SOLUTE_DATA_DIR: dataDir }, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('bin/solute keys', () => {
  it('create prints only the new key, wk_ for write and sk_ for secret', () => {
    const dir = tempDir();
    const w = run(dir, 'keys', 'create', '--project', 'shop');
    const s = run(dir, 'keys', 'create', '--project', 'shop', '--secret');
    expect(w.code).toBe(0);
    expect(w.stdout).toMatch(/^wk_[0-9A-Za-z]{32}\n$/);
    expect(s.stdout).toMatch(/^sk_[0-9A-Za-z]{32}\n$/);
    expect(w.stdout).not.toBe(s.stdout);
  });

  it('stores keys hashed: the key itself is nowhere in the data directory', () => {
    const dir = tempDir();
    const key = cli(dir, 'keys', 'create', '--project', 'shop');
    for (const f of fs.readdirSync(dir)) {
      const bytes = fs.readFileSync(`${dir}/${f}`);
      expect(bytes.includes(Buffer.from(key)), f).toBe(false);
      expect(bytes.includes(Buffer.from(key.slice(3))), f).toBe(false);
    }
    expect(fs.existsSync(dataPaths(dir).meta)).toBe(true);
  });

  it('list shows prefixes, projects, kinds and revocations, never a whole key', () => {
    const dir = tempDir();
    const a = cli(dir, 'keys', 'create', '--project', 'alpha');
    const b = cli(dir, 'keys', 'create', '--project', 'beta', '--secret');
    cli(dir, 'keys', 'revoke', a.slice(0, 11));
    const out = cli(dir, 'keys', 'list');
    const rows = out.split('\n').slice(1).map((l) => l.split('\t'));
    expect(out).not.toContain(a);
    expect(out).not.toContain(b);
    expect(rows).toHaveLength(2);
    const byPrefix = new Map(rows.map((r) => [r[0], r]));
    expect(byPrefix.get(a.slice(0, 11))).toEqual([a.slice(0, 11), 'alpha', 'write', expect.any(String), expect.stringMatching(/^\d{4}-/)]);
    expect(byPrefix.get(b.slice(0, 11))).toEqual([b.slice(0, 11), 'beta', 'secret', expect.any(String), '-']);
  });

  it('revoke refuses an unknown or too short prefix, and names the revoked key', () => {
    const dir = tempDir();
    const key = cli(dir, 'keys', 'create', '--project', 'p');
    expect(run(dir, 'keys', 'revoke', 'wk_nothinglikeit').code).toBe(1);
    expect(run(dir, 'keys', 'revoke', 'wk').code).toBe(2);
    const ok = run(dir, 'keys', 'revoke', key);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain(key.slice(0, 11));
    expect(ok.stdout).not.toContain(key);
    expect(run(dir, 'keys', 'revoke', key).code).toBe(1); // already revoked: no active key matches
  });

  it('revoke refuses a prefix that designates several keys', () => {
    const dir = tempDir();
    // Create keys until two share their first 4 characters (62 choices: a few keys suffice).
    const seen = new Set<string>();
    let shared = '';
    while (!shared) {
      const p4 = cli(dir, 'keys', 'create', '--project', 'p').slice(0, 4);
      if (seen.has(p4)) shared = p4;
      seen.add(p4);
    }
    const r = run(dir, 'keys', 'revoke', shared);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/2 active keys/);
  });

  it('refuses bad usage with a message and exit code 2', () => {
    const dir = tempDir();
    expect(run(dir, 'keys', 'create').code).toBe(2);
    expect(run(dir, 'keys', 'create', '--project', 'bad name!').code).toBe(2);
    expect(run(dir, 'nope').code).toBe(2);
    const bad = run(dir, 'serve', '--port', 'x');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/PORT/);
  });

  it('serve refuses a data directory that another serve holds, saying so', async () => {
    const dir = tempDir();
    const first = await spawnServer(dir);
    try {
      const r = spawnSync(BIN, ['serve', '--port', String(await freePort())], { env: { ...process.env, SOLUTE_DATA_DIR: dir }, encoding: 'utf8' });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/in use by another solute serve/);
      expect((await fetch(`${first.url}/readyz`)).status).toBe(200); // the first one is unharmed
    } finally {
      first.proc.kill('SIGTERM');
      await first.exited;
    }
  });
});

describe('bin/solute limits', () => {
  it('set, list and clear, in events per second with an optional burst', () => {
    const dir = tempDir();
    expect(run(dir, 'limits', 'set', '--project', 'shop', '--events-per-second', '50').stdout).toBe('project shop: 50 events per second, 100 (default) at once\n');
    expect(run(dir, 'limits', 'set', '--project', 'big', '--events-per-second', '500', '--burst', '2000').stdout).toBe('project big: 500 events per second, 2000 at once\n');
    expect(run(dir, 'limits', 'list').stdout).toBe('PROJECT\tEVENTS/S\tBURST\nbig\t500\t2000\nshop\t50\t100 (default)\n');
    expect(run(dir, 'limits', 'clear', '--project', 'big').code).toBe(0);
    expect(run(dir, 'limits', 'list').stdout).toBe('PROJECT\tEVENTS/S\tBURST\nshop\t50\t100 (default)\n');
    // A project's row holding only a limit is not an allowed-origins list.
    expect(run(dir, 'origins', 'list').stdout).toBe('PROJECT\tALLOWED ORIGINS\n');
  });

  it('refuses bad usage with a message and exit code 2', () => {
    const dir = tempDir();
    for (const args of [
      ['limits', 'set', '--project', 'shop'],
      ['limits', 'set', '--events-per-second', '5'],
      ['limits', 'set', '--project', 'shop', '--events-per-second', '0'],
      ['limits', 'set', '--project', 'shop', '--events-per-second', '2.5'],
      ['limits', 'set', '--project', 'shop', '--events-per-second', '10', '--burst=-1'],
      ['limits', 'set', '--project', 'shop', '--events-per-second', '10', '--burst', '0'],
      ['limits', 'set', '--project', 'bad name!', '--events-per-second', '10'],
      ['limits', 'clear'],
      ['limits', 'nope'],
    ]) {
      const r = run(dir, ...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(/^solute: /);
    }
    expect(run(dir, 'limits', 'list').stdout).toBe('PROJECT\tEVENTS/S\tBURST\n');
  });

  it('migrates a data dir made before limits existed, in place, keeping its keys and origins', async () => {
    const dir = tempDir();
    const key = cli(dir, 'keys', 'create', '--project', 'old');
    cli(dir, 'origins', 'set', '--project', 'old', 'https://app.example.com');
    // Put the projects table back to its first shape, as an older release left it.
    const db = new Database(dataPaths(dir).meta);
    db.exec(`CREATE TABLE projects_v1 (name TEXT PRIMARY KEY, allowed_origins TEXT NOT NULL DEFAULT '[]') WITHOUT ROWID;
      INSERT INTO projects_v1 SELECT name, allowed_origins FROM projects; DROP TABLE projects; ALTER TABLE projects_v1 RENAME TO projects;`);
    expect((db.prepare('PRAGMA table_info(projects)').all() as Array<{ name: string }>).map((c) => c.name)).toEqual(['name', 'allowed_origins']);
    db.close();

    expect(run(dir, 'limits', 'set', '--project', 'old', '--events-per-second', '7').code).toBe(0);
    expect(run(dir, 'limits', 'list').stdout).toBe('PROJECT\tEVENTS/S\tBURST\nold\t7\t100 (default)\n');
    expect(run(dir, 'origins', 'list').stdout).toBe('PROJECT\tALLOWED ORIGINS\nold\thttps://app.example.com\n');
    const server = await spawnServer(dir);
    try {
      const r = await fetch(`${server.url}/api/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': key },
        body: JSON.stringify({ batch: [makeEvent()], sentAt: new Date().toISOString() }),
      });
      expect(r.status).toBe(200);
      expect(r.headers.get('ratelimit-limit')).toBe('100');
    } finally {
      server.proc.kill('SIGTERM');
      await server.exited;
    }
  });
});
