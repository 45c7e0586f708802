// The real Segment and RudderStack node SDKs, pointed at a Solute started here: every call type they
// support arrives once, with the right fields (read back through GET /api/events).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { Analytics as SegmentAnalytics } from '@segment/analytics-node';
import RudderAnalytics from '@rudderstack/rudder-sdk-node';
import { startTestServer, type TestServer } from '../helpers/solute.js';
import { readAll, waitStored } from '../helpers/assertions.js';

/** Sends one call of each type through `sdk`, all for one new user; returns that user's id. */
function sendEveryCall(sdk: {
  identify(m: object): unknown;
  track(m: object): unknown;
  page(m: object): unknown;
  screen(m: object): unknown;
  group(m: object): unknown;
  alias(m: object): unknown;
}): string {
  const userId = `user_${randomUUID()}`;
  sdk.identify({ userId, traits: { email: 'ada@example.com', plan: 'pro' } });
  sdk.track({ userId, event: 'Order Completed', properties: { total: 42.5, currency: 'EUR' } });
  sdk.page({ userId, name: 'Pricing', category: 'Docs', properties: { path: '/pricing' } });
  sdk.screen({ userId, name: 'Settings', properties: { tab: 'billing' } });
  sdk.group({ userId, groupId: 'acme', traits: { name: 'Acme Inc' } });
  sdk.alias({ userId, previousId: `anon_${userId}` });
  return userId;
}

function expectEveryCallOnce(events: Array<Record<string, any>>, userId: string, library: RegExp): void {
  const byType = (t: string) => events.filter((e) => e.type === t);
  for (const t of ['identify', 'track', 'page', 'screen', 'group', 'alias']) expect(byType(t), t).toHaveLength(1);
  expect(events).toHaveLength(6);
  expect(byType('identify')[0].traits).toEqual({ email: 'ada@example.com', plan: 'pro' });
  expect(byType('track')[0]).toMatchObject({ event: 'Order Completed', properties: { total: 42.5, currency: 'EUR' } });
  expect(byType('page')[0]).toMatchObject({ name: 'Pricing', properties: { path: '/pricing' } });
  expect(byType('screen')[0]).toMatchObject({ name: 'Settings', properties: { tab: 'billing' } });
  expect(byType('group')[0]).toMatchObject({ groupId: 'acme', traits: { name: 'Acme Inc' } });
  expect(byType('alias')[0]).toMatchObject({ previousId: `anon_${userId}` });
  const ids = new Set(events.map((e) => e.messageId));
  expect(ids.size).toBe(6);
  for (const e of events) {
    expect(e.userId).toBe(userId);
    expect(e.context?.library?.name).toMatch(library);
    expect(e).not.toHaveProperty('writeKey');
    for (const f of ['timestamp', 'originalTimestamp', 'sentAt', 'receivedAt']) expect(Number.isFinite(Date.parse(e[f])), f).toBe(true);
    // Sent moments ago from this machine's clock: the corrected time is within seconds of receipt.
    expect(Math.abs(Date.parse(e.timestamp) - Date.parse(e.receivedAt))).toBeLessThan(10_000);
  }
}

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}

/**
 * A pass-through proxy in front of Solute that records what the SDKs send. The first `loseAnswers`
 * POSTs reach Solute (their events are stored) but the SDK gets a 503 instead of the answer: its
 * retry must then be deduplicated.
 */
async function proxy(target: string, loseAnswers = 0): Promise<{ url: string; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  let lost = 0;
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const headers = { ...req.headers } as Record<string, string>;
      delete headers.host;
      delete headers.connection;
      const r = await fetch(target + req.url, { method: req.method, headers, body: chunks.length ? Buffer.concat(chunks) : undefined });
      const body = Buffer.from(await r.arrayBuffer());
      if (req.method === 'POST' && lost < loseAnswers) {
        lost++;
        res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' }).end('{"success":false}');
        return;
      }
      res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' }).end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, seen, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

describe('real node SDKs against Solute', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s.close());

  it.each([0, 2])('@segment/analytics-node: every call type stored exactly once (%i answers lost as 503)', async (loseAnswers) => {
    const p = await proxy(s.url, loseAnswers);
    const errors: unknown[] = [];
    const sdk = new SegmentAnalytics({ writeKey: s.writeKey, host: p.url, flushInterval: 50, maxEventsInBatch: 4 });
    sdk.on('error', (err) => errors.push(err));
    const userId = sendEveryCall(sdk);
    await sdk.closeAndFlush({ timeout: 20_000 });
    await p.close();
    expect(errors).toEqual([]);
    await waitStored(s.url);
    expectEveryCallOnce(await readAll(s.url, s.secretKey, { userId }), userId, /^@segment\/analytics-node$/);
    const posts = p.seen.filter((r) => r.method === 'POST');
    expect(posts.length).toBeGreaterThanOrEqual(2 + loseAnswers);
    for (const r of posts) {
      expect(r.url).toBe('/v1/batch');
      expect(r.headers.authorization).toBe('Basic ' + Buffer.from(`${s.writeKey}:`).toString('base64'));
    }
    if (loseAnswers > 0) expect(posts.some((r) => r.headers['x-retry-count'] !== undefined && r.headers['x-retry-count'] !== '0')).toBe(true);
  });

  it.each([0, 2])('@rudderstack/rudder-sdk-node (gzip, per-event sentAt, Basic auth): every call type stored exactly once (%i answers lost as 503)', async (loseAnswers) => {
    const p = await proxy(s.url, loseAnswers);
    const errors: unknown[] = [];
    // Without an errorHandler, a 4xx (or a 5xx once its retries are spent) crashes the host process.
    const sdk = new RudderAnalytics(s.writeKey, { dataPlaneUrl: p.url, flushAt: 3, flushInterval: 50, logLevel: 'error', errorHandler: (err) => errors.push(err) });
    const userId = sendEveryCall(sdk as never);
    await sdk.flush();
    await waitStored(s.url);
    // The SDK sends its first event alone at once and batches the rest: wait until all six are in.
    const deadline = Date.now() + 15_000;
    let events = await readAll(s.url, s.secretKey, { userId });
    while (events.length < 6 && Date.now() < deadline) {
      await sdk.flush();
      await waitStored(s.url);
      events = await readAll(s.url, s.secretKey, { userId });
    }
    await p.close();
    expect(errors).toEqual([]);
    expectEveryCallOnce(events, userId, /^analytics-node$/); // RudderStack's node SDK names itself so
    const posts = p.seen.filter((r) => r.method === 'POST');
    expect(posts.length).toBeGreaterThanOrEqual(2 + loseAnswers);
    for (const r of posts) {
      expect(r.url).toBe('/v1/batch');
      expect(r.headers['content-encoding']).toBe('gzip');
      expect(r.headers.authorization).toMatch(/^Basic /);
    }
  });
});
