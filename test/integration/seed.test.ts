// bin/solute seed: writes N events into a stopped server's store, which the stats routes then count;
// refuses, clearly, while a server holds the store (DuckDB has one writer).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, cli, startTestServer, tempDir } from '../helpers/solute.js';
import { getJson } from '../helpers/assertions.js';

function seedCli(dataDir: string, ...args: string[]): { code: number; stdout: string; stderr: string } {
  try {
    const stdout = execFileSync(BIN, ['seed', ...args], { env: { ...process.env, SOLUTE_DATA_DIR: dataDir }, encoding: 'utf8', stdio: 'pipe' });
    return { code: 0, stdout, stderr: '' };
  } catch (err) {
    const e = err as { status: number; stdout: string; stderr: string };
    return { code: e.status, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('bin/solute seed', () => {
  it('seeds events the stats routes then count, over the days asked', async () => {
    const dir = tempDir();
    const r = seedCli(dir, '--events', '5k', '--users', '300', '--project', 'test', '--days', '3');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^seeded 5000 events of 300 users \(\d+ identified\) over 3 days into project test/);
    const s = await startTestServer({}, dir);
    try {
      const to = new Date(Date.now() + 1000).toISOString();
      const from = new Date(Date.now() - 3 * 86_400_000 - 60_000).toISOString();
      const a = await getJson(s.url, `/api/stats/events?from=${from}&to=${to}`, { authorization: `Bearer ${s.secretKey}` });
      expect(a.status).toBe(200);
      expect(a.body.total.count).toBe(5000);
      expect(a.body.total.users).toBeGreaterThan(150);
      expect(a.body.buckets.reduce((n: number, b: any) => n + b.count, 0)).toBe(5000);
      const top = await getJson(s.url, `/api/stats/top-events?from=${from}&to=${to}&limit=3`, { authorization: `Bearer ${s.secretKey}` });
      expect(top.body.events).toHaveLength(3);
      expect(top.body.events[0].count).toBeGreaterThan(top.body.events[2].count);
    } finally {
      await s.close();
    }
  });

  it('refuses a data directory whose log holds events not yet stored (their seqs would collide with the seeded ones)', async () => {
    const dir = tempDir();
    fs.mkdirSync(path.join(dir, 'log'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'log', '000000000001.ndjson'), '{"v":2,"c":1,"p":"test","s":1}\n');
    const r = seedCli(dir, '--events', '10', '--users', '2');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/holds 1 segment\(s\) not yet stored: start solute serve until \/readyz answers and the backlog is 0, stop it, then seed/);
    // An empty segment (a server stopped with nothing in its open segment) does not count.
    fs.writeFileSync(path.join(dir, 'log', '000000000001.ndjson'), '');
    expect(seedCli(dir, '--events', '10', '--users', '2').code).toBe(0);
  });

  it('refuses while a server runs on the data directory, and checks its options', async () => {
    const s = await startTestServer();
    try {
      const r = seedCli(s.dataDir, '--events', '10', '--users', '2');
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/in use \(is solute serve running on it\?\): stop the server/);
    } finally {
      await s.close();
    }
    const dir = tempDir();
    cli(dir, 'keys', 'list');
    expect(seedCli(dir, '--users', '2')).toMatchObject({ code: 2, stderr: expect.stringContaining('--events') });
    expect(seedCli(dir, '--events', '1x', '--users', '2')).toMatchObject({ code: 2, stderr: expect.stringContaining('--events must be a positive integer') });
    expect(seedCli(dir, '--events', '10', '--users', '2', '--project', 'bad name')).toMatchObject({ code: 2 });
  });
});
