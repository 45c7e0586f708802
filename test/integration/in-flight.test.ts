// Bytes in flight are bounded: while large bodies are being received, more get 503 (429 on /v1) with
// Retry-After before anything is read, and nothing of them is kept; capacity comes back as they finish.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, postV1 } from '../helpers/v1.js';
import { makeEvent, postEvents, startTestServer, type TestServer } from '../helpers/solute.js';

describe('bytes in flight', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ maxBytesInFlight: 100_000 });
  });
  afterAll(() => s.close());

  /** A valid batch of about `bytes` bytes, in events of at most ~10 kB (the per-event limit is 32 kB). */
  const body = (bytes: number) => {
    const n = Math.max(1, Math.ceil(bytes / 10_000));
    const batch = Array.from({ length: n }, () => makeEvent({ properties: { pad: 'x'.repeat(Math.floor(bytes / n) - 400) } }));
    return { batch, sentAt: new Date().toISOString() };
  };

  it('refuses a body that would pass the bound while another is being received, then accepts again', async () => {
    // A client announces 80 kB and sends its body slowly: those bytes are reserved.
    const { port } = new URL(s.url);
    const slow = net.connect(Number(port), '127.0.0.1');
    slow.on('error', () => undefined);
    const answer = new Promise<string>((resolve) => {
      let data = '';
      slow.on('data', (d) => (data += d.toString()));
      slow.on('close', () => resolve(data));
    });
    const slowBody = JSON.stringify(body(80_000));
    slow.write(`POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Api-Key: ${s.writeKey}\r\nContent-Length: ${Buffer.byteLength(slowBody)}\r\nConnection: close\r\n\r\n`);
    slow.write(slowBody.slice(0, 1000));
    await new Promise((r) => setTimeout(r, 200));

    const refused = await postEvents(s.url, s.writeKey, body(30_000));
    expect(refused.status).toBe(503);
    expect(refused.body).toMatchObject({ success: false, code: 'SOL_ERR_OVERLOADED' });
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    const v1 = await postV1(s.url, '/v1/batch', body(30_000), { authorization: basic(s.writeKey) });
    expect(v1.status).toBe(429);
    expect(v1.body).toMatchObject({ code: 'SOL_ERR_INGEST_SLOW_DOWN' });
    expect((await postEvents(s.url, s.writeKey, body(5_000))).status).toBe(200); // small ones still fit

    slow.write(slowBody.slice(1000));
    expect(await answer).toMatch(/^HTTP\/1\.1 200/);
    expect((await postEvents(s.url, s.writeKey, body(30_000))).status).toBe(200);
  });

  it('lets a single request through even when it alone exceeds the bound', async () => {
    const r = await postEvents(s.url, s.writeKey, body(150_000));
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ success: true, failed: 0 });
  });
});
