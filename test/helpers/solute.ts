// Helpers to run Solute for real in tests: in-process (startSolute) or as `bin/solute serve` children.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { loadConfig, type Config } from '../../src/config.js';
import { startSolute, type RunningSolute, type StartOptions } from '../../src/main.js';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const BIN = path.join(ROOT, 'bin', 'solute');

import { tempDir } from './temp-dirs.js';

export { tempDir };

/** Runs `bin/solute ...args` against dataDir and returns its stdout, trimmed. */
export function cli(dataDir: string, ...args: string[]): string {
  return execFileSync(BIN, args, { env: { ...process.env, SOLUTE_DATA_DIR: dataDir }, encoding: 'utf8' }).trim();
}

export interface TestServer {
  url: string;
  dataDir: string;
  writeKey: string;
  secretKey: string;
  solute: RunningSolute;
  close(): Promise<void>;
}

/** Starts Solute in this process on a free port, with a fresh data dir and a write + secret key. */
export async function startTestServer(overrides: Partial<Config> = {}, dataDir = tempDir(), opts: StartOptions = {}): Promise<TestServer> {
  const writeKey = cli(dataDir, 'keys', 'create', '--project', 'test');
  const secretKey = cli(dataDir, 'keys', 'create', '--project', 'test', '--secret');
  const config = loadConfig({}, { dataDir, port: 0, host: '127.0.0.1', segmentMaxAgeMs: 50, ...overrides });
  const solute = await startSolute(config, pino({ level: process.env.SOLUTE_TEST_LOG ?? 'silent' }), opts);
  return { url: solute.url, dataDir, writeKey, secretKey, solute, close: () => solute.close() };
}

export interface ChildServer {
  url: string;
  proc: ChildProcess;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
  stderr(): string;
}

/** Spawns `bin/solute serve` on a free port and waits until /readyz answers 200. */
export async function spawnServer(dataDir: string, env: Record<string, string> = {}, fixedPort?: number): Promise<ChildServer> {
  const port = fixedPort ?? (await freePort());
  const proc = spawn(BIN, ['serve', '--port', String(port)], {
    env: { ...process.env, SOLUTE_DATA_DIR: dataDir, SOLUTE_HOST: '127.0.0.1', SOLUTE_LOG_LEVEL: 'warn', SOLUTE_SEGMENT_MAX_AGE_MS: '50', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`solute exited early (${proc.exitCode}): ${err}`);
    try {
      const r = await fetch(`${url}/readyz`);
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`solute did not become ready: ${err}`);
    await sleep(50);
  }
  return { url, proc, exited, stderr: () => err };
}

export async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A valid track event; fields can be overridden or removed (set to undefined). */
export function makeEvent(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const e: Record<string, unknown> = {
    type: 'track',
    event: 'Button Clicked',
    properties: { button_id: 'cta-signup', page: '/homepage' },
    timestamp: new Date().toISOString(),
    userId: 'user_123',
    anonymousId: 'anon_456',
    messageId: `msg_${randomUUID()}`,
    context: { library: { name: '@solute-ai/sdk', version: '0.1.2' }, sessionId: 'session_abc' },
    ...overrides,
  };
  for (const k of Object.keys(e)) if (e[k] === undefined) delete e[k];
  return e;
}

export interface Answer {
  status: number;
  headers: Headers;
  body: any;
}

/** POSTs a JSON body (object, or a raw string sent as is) to /api/events. */
export async function postEvents(url: string, key: string | undefined, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const h: Record<string, string> = { 'content-type': 'application/json', ...headers };
  if (key !== undefined) h['x-api-key'] = key;
  const r = await fetch(`${url}/api/events`, { method: 'POST', headers: h, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return readAnswer(r);
}

/** Status, headers and body of a response; the body parsed as JSON when it is JSON, else text. */
export async function readAnswer(r: Response): Promise<Answer> {
  const text = await r.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // left as text
  }
  return { status: r.status, headers: r.headers, body: parsed };
}

/** GETs /api/events with a secret key; query as an object. */
export async function getEvents(url: string, secretKey: string, query: Record<string, string | number> = {}): Promise<Answer> {
  const qs = new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)])).toString();
  const r = await fetch(`${url}/api/events${qs ? `?${qs}` : ''}`, { headers: { authorization: `Bearer ${secretKey}` } });
  return { status: r.status, headers: r.headers, body: await r.json() };
}

/** Reads every stored event of the key's project (follows cursors). */
export async function readAllEvents(url: string, secretKey: string): Promise<Array<Record<string, unknown>>> {
  const out: Array<Record<string, unknown>> = [];
  let cursor: string | null = null;
  do {
    const q: Record<string, string | number> = { limit: 1000 };
    if (cursor) q.cursor = cursor;
    const r = await getEvents(url, secretKey, q);
    if (r.status !== 200) throw new Error(`GET /api/events: ${r.status} ${JSON.stringify(r.body)}`);
    out.push(...r.body.events);
    cursor = r.body.nextCursor;
  } while (cursor);
  return out;
}

/**
 * Waits until the server's backlog gauge reads 0 and every event written since it started is stored
 * (stored + dead-lettered >= accepted - duplicates). The gauge alone can read 0 for a moment while a
 * closed segment is being handed from the log to the processor.
 */
export async function waitForDrain(url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const metric = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  for (;;) {
    const text = await (await fetch(`${url}/metrics`)).text();
    const m = /^solute_processing_backlog_events (\d+)/m.exec(text);
    const written = metric(text, 'solute_events_accepted_total') - metric(text, 'solute_events_duplicate_total');
    const done = metric(text, 'solute_events_stored_total') + metric(text, 'solute_dead_letters_total');
    if (m && m[1] === '0' && done >= written) return;
    if (Date.now() > deadline) throw new Error(`backlog did not drain: ${m?.[1]} (stored ${done} of ${written})`);
    await sleep(50);
  }
}
