// The HTTP edge records each request's client IP in the log line (`i`): the socket's peer, or
// X-Forwarded-For only when that peer is a trusted proxy (SOLUTE_TRUSTED_PROXIES). Read back from the
// open segment file on disk, which holds an event as soon as its 200 was sent (the segment is kept
// open for the test, so the processor has not taken it yet).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import type { LogLine } from '../../src/contracts/log-line.js';
import { makeEvent, postEvents, startTestServer, type TestServer } from '../helpers/solute.js';
import { basic, postV1 } from '../helpers/v1.js';

/** The log line of the event with this messageId, from the segments on disk. */
function logLine(s: TestServer, messageId: string): LogLine {
  const dir = path.join(s.dataDir, 'log');
  for (const name of fs.readdirSync(dir).filter((n) => n.endsWith('.ndjson'))) {
    for (const line of fs.readFileSync(path.join(dir, name), 'utf8').split('\n')) {
      if (line.includes(JSON.stringify(messageId))) return JSON.parse(line) as LogLine;
    }
  }
  throw new Error(`no log line for ${messageId}`);
}

/** Posts one event with these headers and returns its log line. */
async function send(s: TestServer, headers: Record<string, string> = {}): Promise<LogLine> {
  const event = makeEvent();
  const r = await postEvents(s.url, s.writeKey, { batch: [event], sentAt: new Date().toISOString() }, headers);
  expect(r.status).toBe(200);
  return logLine(s, event.messageId as string);
}

function server(overrides: Partial<Config>): { get: () => TestServer } {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ segmentMaxAgeMs: 600_000, ...overrides });
  });
  afterAll(() => s.close());
  return { get: () => s };
}

describe('client IP at the edge', () => {
  describe('no trusted proxy (the default)', () => {
    const srv = server({});

    it('records the socket peer, after the messageId and before the user agent and the event (log format v2)', async () => {
      const line = await send(srv.get());
      expect(line.i).toBe('127.0.0.1');
      const text = JSON.stringify(line);
      expect(Object.keys(line)).toEqual(['v', 'c', 'p', 's', 't', 'r', 'y', 'n', 'u', 'a', 'm', 'i', 'g', 'e']);
      expect(text).toContain(`,"i":"127.0.0.1","g":`);
    });

    it('ignores a spoofed X-Forwarded-For', async () => {
      expect((await send(srv.get(), { 'x-forwarded-for': '203.0.113.5' })).i).toBe('127.0.0.1');
    });

    it('records it on the /v1 routes too', async () => {
      const s = srv.get();
      const messageId = `m_${crypto.randomUUID()}`;
      const r = await postV1(s.url, '/v1/track', { event: 'x', userId: 'u1', messageId }, { authorization: basic(s.writeKey), 'x-forwarded-for': '203.0.113.5' });
      expect(r.status).toBe(200);
      expect(logLine(s, messageId).i).toBe('127.0.0.1');
    });
  });

  describe('a trusted proxy on 127.0.0.1', () => {
    const srv = server({ trustedProxies: '10.0.0.0/8, 127.0.0.1' });

    it('takes the client from X-Forwarded-For', async () => {
      expect((await send(srv.get(), { 'x-forwarded-for': '203.0.113.5' })).i).toBe('203.0.113.5');
    });

    it('takes the first untrusted hop from the right, not what the client wrote at the left', async () => {
      // The client sent "198.51.100.66" itself; the proxy appended the address it saw.
      expect((await send(srv.get(), { 'x-forwarded-for': '198.51.100.66, 203.0.113.5' })).i).toBe('203.0.113.5');
      // Both hops trusted: the address before them.
      expect((await send(srv.get(), { 'x-forwarded-for': '198.51.100.66, 10.1.2.3' })).i).toBe('198.51.100.66');
    });

    it('without the header, the peer itself', async () => {
      expect((await send(srv.get())).i).toBe('127.0.0.1');
    });
  });

  describe('a trusted proxy list without the peer', () => {
    const srv = server({ trustedProxies: '10.0.0.0/8,192.0.2.1' });

    it('ignores X-Forwarded-For from a peer that is not on the list', async () => {
      expect((await send(srv.get(), { 'x-forwarded-for': '203.0.113.5' })).i).toBe('127.0.0.1');
    });
  });

  describe('SOLUTE_IP_MODE=truncate', () => {
    const srv = server({ ipMode: 'truncate', trustedProxies: '127.0.0.1' });

    it('writes only the /24 or /48 into the log', async () => {
      const v4 = await send(srv.get(), { 'x-forwarded-for': '203.0.113.5' });
      expect(v4.i).toBe('203.0.113.0');
      expect(JSON.stringify(v4)).not.toContain('203.0.113.5');
      expect((await send(srv.get(), { 'x-forwarded-for': '2001:db8:abcd:12::5' })).i).toBe('2001:db8:abcd::');
      expect((await send(srv.get())).i).toBe('127.0.0.0');
    });
  });

  describe('SOLUTE_IP_MODE=drop', () => {
    const srv = server({ ipMode: 'drop', trustedProxies: '127.0.0.1' });

    it('writes no IP into the log at all', async () => {
      const line = await send(srv.get(), { 'x-forwarded-for': '203.0.113.5' });
      expect(line.i).toBeNull();
      expect(JSON.stringify(line)).not.toContain('203.0.113.5');
      expect(JSON.stringify(line)).not.toContain('127.0.0.1');
    });
  });
});
