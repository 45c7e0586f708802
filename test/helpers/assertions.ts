// Shared assertions and small HTTP helpers for the integration tests (no mocks: real requests only).
import http from 'node:http';
import os from 'node:os';
import { expect } from 'vitest';
import { ERRORS, type ErrorCode } from '../../src/errors.js';
import { ROOT, cli, getEvents, sleep, type Answer } from './solute.js';

/** Asserts the uniform error body: JSON, success:false, the expected stable code and status, a message, no leaks. */
export function expectError(r: Answer, status: number, code: ErrorCode): void {
  expect(r.status, `status of ${JSON.stringify(r.body)}`).toBe(status);
  expect(ERRORS[code].status, `catalog status of ${code}`).toBe(status);
  expect(r.headers.get('content-type') ?? '').toMatch(/^application\/json/);
  expect(typeof r.body, `body is JSON: ${String(r.body)}`).toBe('object');
  expect(r.body.success).toBe(false);
  expect(r.body.code).toBe(code);
  expect(typeof r.body.message).toBe('string');
  expect(r.body.message.length).toBeGreaterThan(0);
  expectNoLeak(r.body);
}

/** No stack trace, source location or server-side path in what a client sees. */
export function expectNoLeak(body: unknown): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  expect(text).not.toMatch(/\n\s+at |\bat [\w.<>]+ \(|node_modules|\.[cm]?[jt]s:\d+|"stack"/);
  expect(text).not.toContain(ROOT);
  expect(text).not.toContain(os.tmpdir() + '/');
}

/** Creates a key with the CLI while the server runs. */
export function createKey(dataDir: string, project: string, kind: 'write' | 'secret' = 'write'): string {
  return cli(dataDir, 'keys', 'create', '--project', project, ...(kind === 'secret' ? ['--secret'] : []));
}

/** Polls `probe` until it returns true or the deadline passes; returns the elapsed ms, throws on timeout. */
export async function pollUntil(probe: () => Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await probe()) return Date.now() - start;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

/** GETs a path and parses the body as JSON when it is JSON. */
export async function getJson(url: string, p: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Answer> {
  const r = await fetch(url + p, { method, headers });
  const text = await r.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // left as text
  }
  return { status: r.status, headers: r.headers, body };
}

/** GET /api/events with a raw query string (to send exactly what a test means, unknown names included). */
export async function getEventsRaw(url: string, secretKey: string, qs: string): Promise<Answer> {
  return getJson(url, `/api/events${qs ? `?${qs}` : ''}`, { authorization: `Bearer ${secretKey}` });
}

/** Every stored event of a project matching `query`, following cursors with the given page size. */
export async function readAll(url: string, secretKey: string, query: Record<string, string | number> = {}, limit = 1000): Promise<Array<Record<string, any>>> {
  const out: Array<Record<string, any>> = [];
  let cursor: string | null = null;
  for (let pages = 0; ; pages++) {
    if (pages > 10_000) throw new Error('too many pages');
    const q: Record<string, string | number> = { ...query, limit };
    if (cursor) q.cursor = cursor;
    const r = await getEvents(url, secretKey, q);
    if (r.status !== 200) throw new Error(`GET /api/events: ${r.status} ${JSON.stringify(r.body)}`);
    expect(Object.keys(r.body).sort()).toEqual(['events', 'nextCursor']);
    expect(r.body.events.length).toBeLessThanOrEqual(limit);
    out.push(...r.body.events);
    cursor = r.body.nextCursor;
    if (cursor === null) return out;
    expect(typeof cursor).toBe('string');
  }
}

/**
 * POSTs with chunked transfer encoding (no Content-Length) using node:http, writing `total` bytes of
 * `body` in chunks. The server may answer and close before the whole body is written: write errors
 * after the answer (EPIPE, ECONNRESET) are expected and ignored.
 */
export function postChunked(url: string, key: string, body: Buffer, chunkSize = 16 * 1024): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: any }> {
  return new Promise((resolve, reject) => {
    const u = new URL('/api/events', url);
    let answered = false;
    const req = http.request(
      { hostname: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': key, 'transfer-encoding': 'chunked' } },
      (res) => {
        answered = true;
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // left as text
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
        });
        res.on('error', reject);
      },
    );
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    let off = 0;
    const writeMore = (): void => {
      while (off < body.length) {
        if (answered || req.destroyed) return;
        const chunk = body.subarray(off, off + chunkSize);
        off += chunk.length;
        if (!req.write(chunk)) {
          req.once('drain', writeMore);
          return;
        }
      }
      req.end();
    };
    writeMore();
  });
}

/** Reads one sample of a Prometheus metric (exact label set in the given order is not required). */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got: Record<string, string> = {};
    for (const part of (m[2] ?? '').match(/\w+="(?:[^"\\]|\\.)*"/g) ?? []) {
      const eq = part.indexOf('=');
      got[part.slice(0, eq)] = part.slice(eq + 2, -1);
    }
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return undefined;
}

export async function metricsText(url: string): Promise<string> {
  const r = await fetch(`${url}/metrics`);
  expect(r.status).toBe(200);
  return r.text();
}

/**
 * Waits until every event acknowledged so far is queryable: the stored (plus dead-lettered) count
 * has caught up with accepted minus duplicates, and the backlog gauge reads 0. Unlike the backlog
 * gauge alone, this cannot be fooled by a segment in hand-over (closed by the log, not yet queued).
 */
export async function waitStored(url: string, timeoutMs = 30_000): Promise<void> {
  const start = Date.now();
  for (;;) {
    const text = await metricsText(url);
    const v = (name: string) => metricValue(text, name) ?? 0;
    const written = v('solute_events_accepted_total') - v('solute_events_duplicate_total');
    const done = v('solute_events_stored_total') + v('solute_dead_letters_total');
    if (done >= written && v('solute_processing_backlog_events') === 0) return;
    if (Date.now() - start > timeoutMs) throw new Error(`events not stored after ${timeoutMs} ms: ${done} of ${written}`);
    await sleep(20);
  }
}

/**
 * A stored event without the `context.ip` that enrichment adds for a test client on loopback (and
 * without the `context` it had to create for it when the client sent none): what remains is the event
 * as sent plus the fields ingest sets. Enrichment itself is checked in enrichment.test.ts.
 */
export function withoutLoopbackIp<T extends Record<string, any>>(stored: T, sent: Record<string, unknown>): T {
  const ctx = stored.context;
  if (ctx === null || typeof ctx !== 'object' || ctx.ip !== '127.0.0.1') return stored;
  const sentCtx = sent.context as Record<string, unknown> | undefined;
  if (sentCtx && typeof sentCtx === 'object' && 'ip' in sentCtx) return stored;
  const { ip: _ip, ...rest } = ctx;
  const copy: Record<string, any> = { ...stored, context: rest };
  if (!('context' in sent) && Object.keys(rest).length === 0) delete copy.context;
  return copy as T;
}
