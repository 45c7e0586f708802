// Hostile input, round two (issue 13): what a client holding only a public write key could do to the
// process or to other projects. One named case per finding, over real HTTP against real servers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import zlib from 'node:zlib';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { BIN, cli, freePort, makeEvent, postEvents, readAnswer, sleep, startTestServer, tempDir, type TestServer } from '../helpers/solute.js';
import { createKey, expectError, metricValue, metricsText, pollUntil, readAll, waitStored } from '../helpers/assertions.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const now = () => new Date().toISOString();
const batchOf = (n: number, tag = 'e') => ({ batch: Array.from({ length: n }, (_, i) => makeEvent({ messageId: `${tag}_${i}_${randomUUID()}` })), sentAt: now() });

/** POST /v1/batch, gzip-compressed, with a write key in Basic auth (as Segment's SDKs send it). */
async function postV1Gzip(url: string, key: string, body: unknown) {
  const r = await fetch(`${url}/v1/batch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'content-encoding': 'gzip', authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}` },
    body: zlib.gzipSync(JSON.stringify(body)),
  });
  return readAnswer(r);
}

/** Opens a TCP connection (optionally from a given loopback source address) and reports when the server closes it. */
function connect(url: string, localAddress?: string) {
  const u = new URL(url);
  const socket = net.connect({ port: Number(u.port), host: u.hostname, ...(localAddress ? { localAddress } : {}) });
  let data = '';
  socket.on('data', (d: Buffer) => (data += d.toString('latin1')));
  socket.on('error', () => undefined);
  const opened = Date.now();
  const closed = new Promise<{ afterMs: number; data: string }>((resolve) => socket.on('close', () => resolve({ afterMs: Date.now() - opened, data })));
  return { socket, closed, data: () => data };
}

/** Sends one complete keep-alive request on a socket and waits for its full answer. */
function requestOn(socket: net.Socket, url: string, p = '/healthz'): Promise<string> {
  const u = new URL(url);
  return new Promise((resolve) => {
    let got = '';
    const onData = (d: Buffer) => {
      got += d.toString('latin1');
      const end = got.indexOf('\r\n\r\n');
      const m = /content-length: (\d+)/i.exec(got);
      if (end >= 0 && m && got.length >= end + 4 + Number(m[1])) {
        socket.off('data', onData);
        resolve(got);
      }
    };
    socket.on('data', onData);
    socket.write(`GET ${p} HTTP/1.1\r\nHost: ${u.host}\r\n\r\n`);
  });
}

describe('a small compressed request that expands into a huge write', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s.close());

  // 10,000 tiny events plus one ~31 KB batch-level context, copied into every event: ~320 MB as stored.
  const bomb = () => ({
    batch: Array.from({ length: 10_000 }, () => ({ type: 'track', event: 'x', userId: 'u' })),
    context: { pad: 'x'.repeat(31 * KiB) },
  });

  it('is refused with 413 SOL_ERR_BATCH_STORED_TOO_LARGE, six at once, and the server keeps serving', async () => {
    const before = logBytes(s.dataDir);
    const answers = await Promise.all(Array.from({ length: 6 }, () => postV1Gzip(s.url, s.writeKey, bomb())));
    for (const r of answers) expectError(r, 413, 'SOL_ERR_BATCH_STORED_TOO_LARGE');
    expect(logBytes(s.dataDir) - before).toBeLessThan(MiB); // nothing of them was written
    const ok = await postEvents(s.url, s.writeKey, batchOf(3));
    expect(ok.status).toBe(200);
    expect(ok.body.processed).toBe(3);
  });

  it('keeps a request whose events as stored fit in twice the body limit', async () => {
    const r = await postV1Gzip(s.url, s.writeKey, { batch: Array.from({ length: 50 }, () => ({ type: 'track', event: 'x', userId: 'u' })), context: { pad: 'x'.repeat(30 * KiB) } });
    expect(r.status).toBe(200);
    expect(r.body.processed).toBe(50);
  });
});

function logBytes(dataDir: string): number {
  const dir = path.join(dataDir, 'log');
  let total = 0;
  for (const f of fs.readdirSync(dir)) total += fs.statSync(path.join(dir, f)).size;
  return total;
}

describe('dedupe keys, backlog and bytes in flight are bounded per project', () => {
  it('a messageId the server assigned takes no dedupe key, also after a restart', async () => {
    const dataDir = tempDir();
    let s = await startTestServer({}, dataDir);
    const keys = async () => metricValue(await metricsText(s.url), 'solute_dedupe_keys') ?? -1;
    const before = await keys();
    const r = await postV1Gzip(s.url, s.writeKey, { batch: Array.from({ length: 5000 }, () => ({ type: 'track', event: 'no id', userId: 'u' })) });
    expect(r.body.processed).toBe(5000);
    expect(await keys()).toBe(before);
    expect((await postEvents(s.url, s.writeKey, batchOf(2))).body.processed).toBe(2);
    expect(await keys()).toBe(before + 2);
    await waitStored(s.url);
    await s.close();
    s = await startTestServer({}, dataDir);
    try {
      expect(await keys()).toBe(before + 2);
      const stored = await readAll(s.url, s.secretKey, { event: 'no id' }, 1000);
      expect(stored.length).toBeGreaterThan(0); // they were kept all the same
    } finally {
      await s.close();
    }
  });

  it('a project at its bound of dedupe keys gets 429 SOL_ERR_PROJECT_DEDUPE_FULL; retries are still duplicates; other projects are unaffected; the bound survives a restart', async () => {
    const dataDir = tempDir();
    const opts = { dedupeMaxKeysPerProject: 1024 };
    let s = await startTestServer(opts, dataDir);
    const other = createKey(dataDir, 'other');
    const first = batchOf(100, 'first');
    try {
      expect((await postEvents(s.url, s.writeKey, first)).body.processed).toBe(100);
      for (let i = 0; i < 9; i++) expect((await postEvents(s.url, s.writeKey, batchOf(100))).status).toBe(200);
      expect((await postEvents(s.url, s.writeKey, batchOf(24))).status).toBe(200); // 1024 keys
      const refused = await postEvents(s.url, s.writeKey, batchOf(1));
      expectError(refused, 429, 'SOL_ERR_PROJECT_DEDUPE_FULL');
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      // A client's retry of events already received is answered as duplicates, not refused.
      const retry = await postEvents(s.url, s.writeKey, first);
      expect(retry.status).toBe(200);
      expect(retry.body.duplicates).toBe(100);
      // Another project is not touched by this one's bound.
      expect((await postEvents(s.url, other, batchOf(100))).body.processed).toBe(100);
      await waitStored(s.url);
    } finally {
      await s.close();
    }
    s = await startTestServer(opts, dataDir);
    try {
      expectError(await postEvents(s.url, s.writeKey, batchOf(1)), 429, 'SOL_ERR_PROJECT_DEDUPE_FULL');
      expect((await postEvents(s.url, other, batchOf(1))).status).toBe(200);
    } finally {
      await s.close();
    }
  });

  it("a project whose backlog is at its bound gets 503 SOL_ERR_PROJECT_BACKLOG_FULL; another project's events are still taken", async () => {
    // Segments stay open for a minute: what is acknowledged stays in the backlog.
    const s = await startTestServer({ projectBacklogMaxEvents: 150, segmentMaxAgeMs: 60_000 });
    const other = createKey(s.dataDir, 'other');
    try {
      expect((await postEvents(s.url, s.writeKey, batchOf(100))).status).toBe(200);
      const r = await postEvents(s.url, s.writeKey, batchOf(100));
      expectError(r, 503, 'SOL_ERR_PROJECT_BACKLOG_FULL');
      expect(r.headers.get('retry-after')).not.toBeNull();
      expect((await postEvents(s.url, other, batchOf(100))).status).toBe(200);
      expect((await postEvents(s.url, s.writeKey, batchOf(50))).status).toBe(200); // what fits still fits
    } finally {
      await s.close();
    }
  });

  it('a project holding its bytes in flight gets 503 SOL_ERR_PROJECT_OVERLOADED; another project is served', async () => {
    const s = await startTestServer({ projectMaxBytesInFlight: 4 * KiB });
    const other = createKey(s.dataDir, 'other');
    const body = JSON.stringify(batchOf(3));
    // A request of the project that sends its headers and only part of its body: it holds its bytes.
    const held = connect(s.url);
    held.socket.write(
      `POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Api-Key: ${s.writeKey}\r\nContent-Length: ${body.length + 8000}\r\n\r\n` + body.slice(0, 10),
    );
    try {
      await sleep(200);
      expectError(await postEvents(s.url, s.writeKey, body), 503, 'SOL_ERR_PROJECT_OVERLOADED');
      expect((await postEvents(s.url, other, body)).status).toBe(200);
    } finally {
      held.socket.destroy();
      await held.closed;
    }
    await sleep(100);
    expect((await postEvents(s.url, s.writeKey, batchOf(3))).status).toBe(200); // released with its request
    await s.close();
  });
});

describe('no body is read before it is wanted', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s.close());

  /** Headers announcing a large body, then only a few bytes of it: an answer can only come from the headers. */
  async function answerWithoutBody(method: string, p: string, extra = ''): Promise<{ afterMs: number; data: string }> {
    const c = connect(s.url);
    c.socket.write(`${method} ${p} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${MiB}\r\n${extra}\r\n{"a":`);
    return c.closed;
  }

  it('an unknown route answers 404 at once and closes instead of reading the body', async () => {
    const r = await answerWithoutBody('POST', '/no/such/route');
    expect(r.data).toMatch(/^HTTP\/1\.1 404/);
    expect(r.data).toMatch(/SOL_ERR_ROUTE_NOT_FOUND/);
    expect(r.data.toLowerCase()).toContain('connection: close');
    expect(r.afterMs).toBeLessThan(5000); // the request deadline is 30 s: an answer now came from the headers alone
  });

  it('a CORS preflight is answered from its headers, its body unread', async () => {
    const r = await answerWithoutBody('OPTIONS', '/api/events', 'Origin: https://site.example\r\nAccess-Control-Request-Method: POST\r\n');
    expect(r.data).toMatch(/^HTTP\/1\.1 204/);
    expect(r.data.toLowerCase()).toContain('access-control-allow-origin: *');
    expect(r.afterMs).toBeLessThan(5000); // the request deadline is 30 s: an answer now came from the headers alone
  });

  it('OPTIONS on a path without CORS is no route: 404, body unread', async () => {
    const r = await answerWithoutBody('OPTIONS', '/api/stats/events', 'Origin: https://site.example\r\n');
    expect(r.data).toMatch(/^HTTP\/1\.1 404/);
    expect(r.afterMs).toBeLessThan(5000); // the request deadline is 30 s: an answer now came from the headers alone
  });

  it('/v1/m takes no key and reads at most 16 KiB', async () => {
    const small = await fetch(`${s.url}/v1/m`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x'.repeat(1000) });
    expect(small.status).toBe(200);
    const big = await readAnswer(await fetch(`${s.url}/v1/m`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x'.repeat(20 * KiB) }));
    expectError(big, 413, 'SOL_ERR_BODY_TOO_LARGE');
    const chunked = await readAnswer(
      await fetch(`${s.url}/v1/m`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: new ReadableStream({ start: (c) => (c.enqueue(new TextEncoder().encode('y'.repeat(40 * KiB))), c.close()) }),
        duplex: 'half',
      } as RequestInit),
    );
    expectError(chunked, 413, 'SOL_ERR_BODY_TOO_LARGE');
  });
});

describe('connection slots', () => {
  it('one peer IP cannot hold more than its share; another IP still connects', async () => {
    const s = await startTestServer({ maxConnections: 50, maxConnectionsPerIp: 5 });
    const held = Array.from({ length: 5 }, () => connect(s.url, '127.0.0.1'));
    const other = connect(s.url, '127.0.0.2');
    try {
      await sleep(300);
      const extra = connect(s.url, '127.0.0.1');
      const r = await extra.closed;
      expect(r.afterMs).toBeLessThan(3000); // closed at once, not by the idle timeout
      expect(r.data).toBe('');
      expect(await requestOn(other.socket, s.url)).toMatch(/^HTTP\/1\.1 200/);
      const metrics = await requestOn(other.socket, s.url, '/metrics');
      expect(metricValue(metrics.slice(metrics.indexOf('\r\n\r\n') + 4), 'solute_connections_refused_total', { reason: 'per-ip' })).toBe(1);
    } finally {
      for (const h of [...held, other]) h.socket.destroy();
      await s.close();
    }
  });

  it('when every slot is taken, an idle keep-alive connection is closed to let a new one in', async () => {
    const s = await startTestServer({ maxConnections: 5, maxConnectionsPerIp: 5 });
    const idle = Array.from({ length: 5 }, () => connect(s.url));
    try {
      for (const c of idle) expect(await requestOn(c.socket, s.url)).toMatch(/^HTTP\/1\.1 200/); // now idle keep-alive
      const fresh = connect(s.url);
      expect(await requestOn(fresh.socket, s.url)).toMatch(/^HTTP\/1\.1 200/);
      const closedOne = await Promise.race(idle.map((c, i) => c.closed.then(() => i)));
      expect(closedOne).toBe(0); // the oldest idle one
      fresh.socket.destroy();
    } finally {
      for (const c of idle) c.socket.destroy();
      await s.close();
    }
  });
});

describe('dedupe is exact and keyed', () => {
  it('two messageIds that differ only in lone surrogates are stored as one id, so the second is a duplicate', async () => {
    const s = await startTestServer();
    try {
      const e = (id: string) => `{"batch":[{"type":"track","event":"Surrogates","userId":"u","messageId":"${id}","timestamp":"${now()}","context":{}}],"sentAt":"${now()}"}`;
      const a = await postEvents(s.url, s.writeKey, e('same\\ud800'));
      const b = await postEvents(s.url, s.writeKey, e('same\\udc00'));
      expect(a.body, JSON.stringify(a.body)).toMatchObject({ processed: 1, duplicates: 0 });
      expect(b.body).toMatchObject({ processed: 1, duplicates: 1 });
      await waitStored(s.url);
      const stored = await readAll(s.url, s.secretKey, { event: 'Surrogates' });
      expect(stored.map((x) => x.messageId)).toEqual(['same\ufffd']);
    } finally {
      await s.close();
    }
  });

  it('a dedupe directory of the earlier layout (MurmurHash3 under dedupe/seed) is rebuilt from the store at start', async () => {
    const dataDir = tempDir();
    let s = await startTestServer({}, dataDir);
    const sent = batchOf(50, 'old');
    expect((await postEvents(s.url, s.writeKey, sent)).body.processed).toBe(50);
    await waitStored(s.url);
    await s.close();
    // What the previous release left: a 4-byte seed and day files of 16-byte MurmurHash3 keys, no secret.
    const dedupeDir = path.join(dataDir, 'dedupe');
    for (const f of fs.readdirSync(dedupeDir)) fs.rmSync(path.join(dedupeDir, f));
    fs.writeFileSync(path.join(dedupeDir, 'seed'), Buffer.from([1, 2, 3, 4]));
    fs.writeFileSync(path.join(dedupeDir, `${Math.floor(Date.now() / 86_400_000)}.keys`), Buffer.alloc(50 * 16, 7));
    s = await startTestServer({}, dataDir);
    try {
      expect(fs.existsSync(path.join(dedupeDir, 'seed'))).toBe(false);
      expect(fs.statSync(path.join(dedupeDir, 'secret')).size).toBe(16);
      const again = await postEvents(s.url, s.writeKey, sent);
      expect(again.body).toMatchObject({ processed: 50, duplicates: 50 });
      expect((await postEvents(s.url, s.writeKey, batchOf(1))).body.duplicates).toBe(0);
    } finally {
      await s.close();
    }
  });
});

describe('the last-resort guard', () => {
  it('an unexpected rejection is logged, the server stops cleanly with exit 1, and what it acknowledged is there after a restart', async () => {
    const dataDir = tempDir();
    const key = cli(dataDir, 'keys', 'create', '--project', 'guard');
    const secret = cli(dataDir, 'keys', 'create', '--project', 'guard', '--secret');
    // A real unhandled rejection inside the real process once the trigger file appears (a preloaded
    // module: nothing of ours is replaced).
    const inject = path.join(dataDir, '..', `inject-${randomUUID()}.mjs`);
    const trigger = `${inject}.go`;
    fs.writeFileSync(
      inject,
      `import fs from 'node:fs';\nconst t = setInterval(() => { if (fs.existsSync(${JSON.stringify(trigger)})) { clearInterval(t); Promise.reject(new Error('injected defect')); } }, 50);\nt.unref();\n`,
    );
    const port = await freePort();
    const proc = spawn(BIN, ['serve', '--port', String(port)], {
      env: { ...process.env, SOLUTE_DATA_DIR: dataDir, SOLUTE_HOST: '127.0.0.1', SOLUTE_LOG_LEVEL: 'info', NODE_OPTIONS: `--import ${inject}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
    const url = `http://127.0.0.1:${port}`;
    await pollUntil(async () => (await fetch(`${url}/readyz`).catch(() => null))?.status === 200, 60_000, 'ready');
    const sent = batchOf(20, 'guard');
    expect((await postEvents(url, key, sent)).body.processed).toBe(20);
    fs.writeFileSync(trigger, '');
    expect(await exited).toBe(1);
    const fatal = out.split('\n').filter((l) => l.includes('"level":60'));
    expect(fatal.length).toBe(1);
    expect(JSON.parse(fatal[0])).toMatchObject({ kind: 'unhandledRejection', err: { message: 'injected defect' } });
    expect(out).toContain('solute stopped'); // it went through the orderly shutdown
    const s = await startTestServer({}, dataDir);
    try {
      await waitStored(s.url);
      const stored = await readAll(s.url, secret, { event: 'Button Clicked' });
      expect(new Set(stored.map((e) => e.messageId))).toEqual(new Set(sent.batch.map((e) => e.messageId)));
    } finally {
      await s.close();
      fs.rmSync(inject, { force: true });
      fs.rmSync(trigger, { force: true });
    }
  });
});
