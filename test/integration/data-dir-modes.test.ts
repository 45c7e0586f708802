// The data directory is for the Solute user only (SECURITY.md): everything bin/solute creates in it
// is born 0700 (directories) or 0600 (files), whichever library creates it; a directory left with
// wider modes (an older version, a copy) is narrowed at start, with one log line. Real processes,
// real files: every entry is stat'ed (the tests run as root, and modes are checked all the same).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, cli, freePort, makeEvent, postEvents, sleep, spawnServer, tempDir, waitForDrain } from '../helpers/solute.js';

interface Entry {
  rel: string;
  kind: 'dir' | 'file' | 'socket' | 'symlink' | 'other';
  mode: number;
}

/** Every entry under `root` (itself included), by lstat: links are listed, not followed. */
function walk(root: string): Entry[] {
  const out: Entry[] = [];
  const visit = (p: string) => {
    const st = fs.lstatSync(p);
    const kind = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSocket() ? 'socket' : st.isSymbolicLink() ? 'symlink' : 'other';
    out.push({ rel: path.relative(root, p) || '.', kind, mode: st.mode & 0o7777 });
    if (kind === 'dir') for (const name of fs.readdirSync(p)) visit(path.join(p, name));
  };
  visit(root);
  return out;
}

const octal = (e: Entry) => `${e.rel} (${e.kind}) ${e.mode.toString(8).padStart(4, '0')}`;

/** Directories exactly 0700, files exactly 0600, sockets without a group or other bit; links are not ours to judge. */
function expectPrivate(root: string): Entry[] {
  const entries = walk(root);
  const wrong = entries.filter((e) =>
    e.kind === 'dir' ? e.mode !== 0o700 : e.kind === 'file' ? e.mode !== 0o600 : e.kind === 'symlink' ? false : (e.mode & 0o077) !== 0,
  );
  expect(wrong.map(octal), `entries of ${root}`).toEqual([]);
  return entries;
}

async function traffic(url: string, writeKey: string): Promise<void> {
  for (let i = 0; i < 3; i++) {
    const batch = [
      makeEvent({ userId: `u${i}` }),
      makeEvent({ type: 'identify', event: undefined, userId: `u${i}`, traits: { plan: 'pro' } }),
      makeEvent({ type: 'group', event: undefined, userId: `u${i}`, groupId: 'g' }),
    ];
    const r = await postEvents(url, writeKey, { batch, sentAt: new Date().toISOString() });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
  }
  await waitForDrain(url);
}

/** `bin/solute serve` with its stdout (the JSON log) kept; resolves once it says it listens. */
async function serveWithLog(dataDir: string) {
  const port = await freePort();
  const proc = spawn(BIN, ['serve', '--port', String(port)], {
    env: { ...process.env, SOLUTE_DATA_DIR: dataDir, SOLUTE_HOST: '127.0.0.1', SOLUTE_LOG_LEVEL: 'info', SOLUTE_SEGMENT_MAX_AGE_MS: '50' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`solute exited early (${proc.exitCode}): ${stderr}${stdout}`);
    // Its "listening" line, not /readyz: it comes after the signal handlers exist, so a SIGTERM then stops it cleanly.
    if (/"msg":"solute listening"/.test(stdout)) break;
    if (Date.now() > deadline) throw new Error(`solute did not become ready: ${stderr}`);
    await sleep(50);
  }
  return {
    url,
    lines: () => stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, any>),
    stop: async () => {
      proc.kill('SIGTERM');
      expect(await exited).toBe(0);
    },
  };
}

const TIGHTENED = /modes narrowed/;

describe('data directory modes', () => {
  it('everything Solute creates is 0700 (directories) or 0600 (files), while it runs and after it stopped', async () => {
    const dataDir = path.join(tempDir(), 'made', 'by', 'solute'); // Solute creates it, parents included
    const writeKey = cli(dataDir, 'keys', 'create', '--project', 'modes');
    cli(dataDir, 'limits', 'set', '--project', 'modes', '--events-per-second', '1000');
    const server = await spawnServer(dataDir);
    await traffic(server.url, writeKey);
    expect(cli(dataDir, 'dead-letters', 'list')).toMatch(/^ID/); // through the admin socket

    const running = expectPrivate(dataDir);
    // The walk saw the parts that matter, each created by a different piece of code or library.
    const rels = running.map((e) => e.rel);
    for (const part of ['meta.sqlite', 'store', path.join('store', 'events.duckdb'), 'log', 'dedupe', 'dedupe/secret', 'admin.sock']) expect(rels).toContain(part);
    expect(rels.some((r) => r.startsWith('dedupe/') && r.endsWith('.keys')), rels.join(' ')).toBe(true);
    expect(running.find((e) => e.rel === 'admin.sock')?.kind).toBe('socket');
    // The parents it made on the way too.
    for (const p of [path.dirname(dataDir), path.dirname(path.dirname(dataDir))]) expect(fs.statSync(p).mode & 0o7777).toBe(0o700);

    server.proc.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    expectPrivate(dataDir);

    // Files the CLI writes outside the data directory hold events too: an export is 0600 as well.
    const out = path.join(tempDir(), 'export.ndjson');
    execFile(BIN, ['export', '--out', out], dataDir);
    expect(fs.statSync(out).mode & 0o7777).toBe(0o600);
  });

  it('an existing directory with wider modes is narrowed at start, with one log line saying how many', async () => {
    const dataDir = tempDir('solute-old-layout-');
    const writeKey = cli(dataDir, 'keys', 'create', '--project', 'old');
    const first = await spawnServer(dataDir);
    await traffic(first.url, writeKey);
    first.proc.kill('SIGTERM');
    expect(await first.exited).toBe(0);

    // An old layout: directories 0755, files 0644, as a umask of 022 leaves them; and a few odder ones.
    for (const e of walk(dataDir)) fs.chmodSync(path.join(dataDir, e.rel), e.kind === 'dir' ? 0o755 : 0o644);
    fs.mkdirSync(path.join(dataDir, 'copied'), { mode: 0o777 });
    fs.chmodSync(path.join(dataDir, 'copied'), 0o777);
    fs.writeFileSync(path.join(dataDir, 'copied', 'script'), 'x');
    fs.chmodSync(path.join(dataDir, 'copied', 'script'), 0o4755); // setuid and executable: all of it goes
    fs.writeFileSync(path.join(dataDir, 'copied', 'readonly'), 'x');
    fs.chmodSync(path.join(dataDir, 'copied', 'readonly'), 0o444); // narrowed to 0400, never widened to 0600
    // A link inside pointing outside: neither followed nor changed.
    const outside = path.join(tempDir(), 'not-solutes.txt');
    fs.writeFileSync(outside, 'x');
    fs.chmodSync(outside, 0o644);
    fs.symlinkSync(outside, path.join(dataDir, 'copied', 'link'));
    const outsideDir = tempDir();
    fs.chmodSync(outsideDir, 0o755);
    fs.symlinkSync(outsideDir, path.join(dataDir, 'dirlink'));

    const before = walk(dataDir);
    const wideDirs = before.filter((e) => e.kind === 'dir' && (e.mode & ~0o700) !== 0).length;
    const wideFiles = before.filter((e) => e.kind !== 'dir' && e.kind !== 'symlink' && (e.mode & ~0o600) !== 0).length;
    expect(wideDirs).toBeGreaterThanOrEqual(5); // ., store, log, dedupe, copied
    expect(wideFiles).toBeGreaterThanOrEqual(5);

    const server = await serveWithLog(dataDir);
    const said = server.lines().filter((l) => TIGHTENED.test(l.msg));
    expect(said, 'one line').toHaveLength(1);
    expect(said[0]).toMatchObject({ level: 40, dataDir: fs.realpathSync(dataDir), dirs: wideDirs, files: wideFiles, failedCount: 0 });
    // Narrowed, and usable: the server serves from it.
    await traffic(server.url, writeKey);
    await server.stop();

    const after = walk(dataDir);
    const mode = (rel: string) => after.find((e) => e.rel === rel)!.mode;
    expect(mode(path.join('copied', 'readonly'))).toBe(0o400);
    expect(mode(path.join('copied', 'script'))).toBe(0o600);
    expect(fs.statSync(outside).mode & 0o7777).toBe(0o644);
    expect(fs.statSync(outsideDir).mode & 0o7777).toBe(0o755);
    const wrong = after.filter((e) => e.kind !== 'symlink' && e.rel !== path.join('copied', 'readonly') && e.mode !== (e.kind === 'dir' ? 0o700 : 0o600));
    expect(wrong.map(octal)).toEqual([]);

    // Nothing left to narrow: the next start says nothing about it.
    const again = await serveWithLog(dataDir);
    expect(again.lines().filter((l) => TIGHTENED.test(l.msg))).toEqual([]);
    await again.stop();
  });
});

/** Runs a bin/solute command on `dataDir`, which must succeed. */
function execFile(bin: string, args: string[], dataDir: string): void {
  const r = spawnSync(bin, args, { env: { ...process.env, SOLUTE_DATA_DIR: dataDir }, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
}
