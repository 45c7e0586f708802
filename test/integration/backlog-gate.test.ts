// While the processing backlog is at its bound, an ingest POST is refused before its body is read:
// under overload a refusal then costs no body parse (bench/overload.mjs measures the effect).
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeEvent, postEvents, startTestServer, type TestServer } from '../helpers/solute.js';
import { basic } from '../helpers/v1.js';

describe('backlog gate', () => {
  const LIMIT = 5;
  let s: TestServer;
  beforeAll(async () => {
    // Events stay in the open segment: the backlog stays at its bound once filled.
    s = await startTestServer({ backlogMaxEvents: LIMIT, maxBatchEvents: LIMIT, segmentMaxAgeMs: 60_000 });
    const fill = await postEvents(s.url, s.writeKey, { batch: Array.from({ length: LIMIT }, () => makeEvent()), sentAt: new Date().toISOString() });
    expect(fill.status).toBe(200);
  });
  afterAll(() => s.close());

  /** Sends only the head of a POST announcing a body it never sends; resolves with the raw answer. */
  function headOnly(path: string, headers: Record<string, string>): Promise<string> {
    const { port } = new URL(s.url);
    return new Promise((resolve, reject) => {
      const socket = net.connect(Number(port), '127.0.0.1');
      let answer = '';
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`no answer before the body was sent; got ${JSON.stringify(answer)}`));
      }, 3000);
      socket.on('data', (d) => {
        answer += d.toString();
        if (answer.includes('\r\n\r\n') && answer.includes('}')) {
          clearTimeout(timer);
          socket.destroy();
          resolve(answer);
        }
      });
      socket.on('error', reject);
      const lines = Object.entries({ host: 'localhost', 'content-type': 'application/json', 'content-length': '50000', ...headers }).map(([k, v]) => `${k}: ${v}`);
      socket.write(`POST ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`);
    });
  }

  it('answers 503 SOL_ERR_BACKLOG_FULL with Retry-After without waiting for the body', async () => {
    const answer = await headOnly('/api/events', { 'x-api-key': s.writeKey });
    expect(answer).toMatch(/^HTTP\/1\.1 503 /);
    expect(answer).toMatch(/\r\nretry-after: 5\r\n/i);
    expect(answer).toContain('"code":"SOL_ERR_BACKLOG_FULL"');
  });

  it('answers 429 SOL_ERR_INGEST_SLOW_DOWN on /v1, also before the body', async () => {
    const answer = await headOnly('/v1/batch', { authorization: basic(s.writeKey), origin: 'https://app.example.com' });
    expect(answer).toMatch(/^HTTP\/1\.1 429 /);
    expect(answer).toContain('"code":"SOL_ERR_INGEST_SLOW_DOWN"');
    expect(answer).toMatch(/\r\naccess-control-allow-origin: \*\r\n/i);
  });

  it('leaves other routes alone', async () => {
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${s.url}/api/events`, { headers: { authorization: `Bearer ${s.secretKey}` } })).status).toBe(200);
  });
});
