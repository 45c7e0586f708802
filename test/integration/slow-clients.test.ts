// Slow and idle clients cannot exhaust the server: header and request deadlines, idle timeout, connection limit.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeEvent, postEvents, startTestServer, type TestServer } from '../helpers/solute.js';

/** Opens a raw connection; `closed` resolves with what the server sent before it closed, and when. */
function connect(url: string): { socket: net.Socket; closed: Promise<{ data: string; afterMs: number }> } {
  const { port } = new URL(url);
  const socket = net.connect(Number(port), '127.0.0.1');
  const started = Date.now();
  let data = '';
  socket.on('data', (d) => (data += d.toString()));
  socket.on('error', () => undefined);
  const closed = new Promise<{ data: string; afterMs: number }>((resolve) => socket.on('close', () => resolve({ data, afterMs: Date.now() - started })));
  return { socket, closed };
}

describe('slow and idle clients', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ headersTimeoutMs: 1000, requestTimeoutMs: 2000, idleTimeoutMs: 3000, maxConnections: 30 });
  });
  afterAll(() => s.close());

  const ok = async () => (await postEvents(s.url, s.writeKey, { batch: [makeEvent()], sentAt: new Date().toISOString() })).status;

  it('disconnects a client that never finishes its headers (slowloris), and serves others meanwhile', async () => {
    const slow = Array.from({ length: 10 }, () => connect(s.url));
    const drips: NodeJS.Timeout[] = [];
    for (const { socket } of slow) {
      socket.write('POST /api/events HTTP/1.1\r\nHost: x\r\n');
      drips.push(setInterval(() => socket.write(`X-Drip: ${Date.now()}\r\n`), 300));
    }
    try {
      expect(await ok()).toBe(200);
      const results = await Promise.all(slow.map((c) => c.closed));
      for (const r of results) {
        expect(r.afterMs).toBeLessThan(5000);
        expect(r.data).toMatch(/^HTTP\/1\.1 408/);
      }
    } finally {
      drips.forEach(clearInterval);
    }
  });

  it('disconnects a client that sends its body too slowly', async () => {
    const c = connect(s.url);
    const body = JSON.stringify({ batch: [makeEvent()], sentAt: new Date().toISOString() });
    c.socket.write(`POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Api-Key: ${s.writeKey}\r\nContent-Length: ${body.length}\r\n\r\n`);
    let i = 0;
    const drip = setInterval(() => i < body.length - 1 && c.socket.write(body[i++]), 100);
    try {
      const r = await c.closed;
      expect(r.afterMs).toBeLessThan(6000);
      expect(r.data).toMatch(/^HTTP\/1\.1 408/);
    } finally {
      clearInterval(drip);
    }
    expect(await ok()).toBe(200);
  });

  it('closes a connection that stays silent', async () => {
    const c = connect(s.url);
    const r = await c.closed;
    expect(r.afterMs).toBeGreaterThanOrEqual(900); // not at once: it was merely idle
    expect(r.afterMs).toBeLessThan(8000);
  });

  it('refuses connections past the limit at once, and accepts again once they are gone', async () => {
    const held = Array.from({ length: 30 }, () => connect(s.url));
    await new Promise((r) => setTimeout(r, 300)); // let the server accept them
    const extra = connect(s.url);
    const r = await extra.closed;
    expect(r.afterMs).toBeLessThan(1000);
    expect(r.data).toBe('');
    for (const h of held) h.socket.destroy();
    await Promise.all(held.map((h) => h.closed));
    await new Promise((r) => setTimeout(r, 100));
    expect(await ok()).toBe(200);
  });
});
