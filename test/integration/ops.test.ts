// Operations: health, readiness, metrics, unknown routes, and the processing backlog bound.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getEvents, makeEvent, postEvents, startTestServer, type TestServer } from '../helpers/solute.js';
import { expectError, getJson, metricValue, metricsText, readAll, waitStored } from '../helpers/assertions.js';

const now = () => new Date().toISOString();

describe('health, metrics and routing', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s.close());

  it('GET /healthz: 200', async () => {
    const r = await getJson(s.url, '/healthz');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ status: 'ok' });
  });

  it('GET /readyz: 200 with its checks, all passing', async () => {
    const r = await getJson(s.url, '/readyz');
    expect(r.status).toBe(200);
    expect(r.body.ready).toBe(true);
    expect(Object.keys(r.body.checks).length).toBeGreaterThan(0);
    for (const [name, ok] of Object.entries(r.body.checks)) expect(ok, name).toBe(true);
  });

  it.each([
    ['GET', '/nope'],
    ['GET', '/api/event'],
    ['POST', '/api/events/extra'],
    ['DELETE', '/api/events'],
    ['PUT', '/api/events'],
    ['GET', '/../../etc/passwd'],
  ])('%s %s: 404 JSON SOL_ERR_ROUTE_NOT_FOUND', async (method, p) => {
    const r = await getJson(s.url, p, { 'x-api-key': s.writeKey }, method);
    expectError(r, 404, 'SOL_ERR_ROUTE_NOT_FOUND');
  });

  it('GET /metrics exposes the counters, histogram and gauge, consistent with what was sent', async () => {
    // A known sequence on this server (it served nothing but the requests of this file before).
    const before = await metricsText(s.url);
    const base = (name: string, labels: Record<string, string> = {}) => metricValue(before, name, labels) ?? 0;
    const a = makeEvent();
    const r1 = await postEvents(s.url, s.writeKey, { batch: [a, makeEvent(), makeEvent({ context: undefined })], sentAt: now() });
    expect(r1.body).toMatchObject({ processed: 2, failed: 1 });
    const r2 = await postEvents(s.url, s.writeKey, { batch: [a, makeEvent({ type: 'nope' })], sentAt: now() });
    expect(r2.body).toMatchObject({ processed: 1, failed: 1, duplicates: 1 });
    const r3 = await postEvents(s.url, s.writeKey, { batch: [makeEvent({ messageId: '' })], sentAt: now() });
    expect(r3.status).toBe(400);
    const r4 = await postEvents(s.url, 'wk_wrong', { batch: [makeEvent()], sentAt: now() });
    expect(r4.status).toBe(401);
    await getJson(s.url, '/definitely-not-here');
    await waitStored(s.url);
    const q = await getEvents(s.url, s.secretKey, { limit: 1 });
    expect(q.status).toBe(200);

    const text = await metricsText(s.url);
    const delta = (name: string, labels: Record<string, string> = {}) => (metricValue(text, name, labels) ?? 0) - base(name, labels);
    expect(text).toMatch(/^# TYPE solute_http_requests_total counter$/m);
    expect(text).toMatch(/^# TYPE solute_events_accepted_total counter$/m);
    expect(text).toMatch(/^# TYPE solute_events_rejected_total counter$/m);
    expect(text).toMatch(/^# TYPE solute_events_duplicate_total counter$/m);
    expect(text).toMatch(/^# TYPE solute_ack_latency_seconds histogram$/m);
    expect(text).toMatch(/^# TYPE solute_processing_backlog_events gauge$/m);

    expect(delta('solute_events_accepted_total')).toBe(3);
    expect(delta('solute_events_rejected_total', { code: 'SOL_ERR_EVENT_INVALID' })).toBe(3);
    expect(delta('solute_events_duplicate_total')).toBe(1);
    expect(metricValue(text, 'solute_processing_backlog_events')).toBe(0);

    const post = { route: '/api/events', method: 'POST' };
    expect(delta('solute_http_requests_total', { ...post, status: '200' })).toBe(2);
    expect(delta('solute_http_requests_total', { ...post, status: '400' })).toBe(1);
    expect(delta('solute_http_requests_total', { ...post, status: '401' })).toBe(1);
    expect(delta('solute_http_requests_total', { route: '/api/events', method: 'GET', status: '200' })).toBe(1);
    expect(delta('solute_http_requests_total', { method: 'GET', status: '404' })).toBeGreaterThanOrEqual(1);
    // Unmatched paths share one label value, so arbitrary URLs cannot blow up the series count.
    expect(text).not.toContain('definitely-not-here');

    // Every POST /api/events answered is one observation of the acknowledgement latency.
    expect(delta('solute_ack_latency_seconds_count', { route: '/api/events' })).toBe(4);
    expect(metricValue(text, 'solute_ack_latency_seconds_bucket', { route: '/api/events', le: '+Inf' })).toBe(
      metricValue(text, 'solute_ack_latency_seconds_count', { route: '/api/events' }),
    );
    expect(metricValue(text, 'solute_ack_latency_seconds_sum', { route: '/api/events' })).toBeGreaterThan(0);
  });
});

describe('processing backlog bound', () => {
  const LIMIT = 5;
  const opts = { backlogMaxEvents: LIMIT, maxBatchEvents: LIMIT, segmentMaxAgeMs: 60_000 }; // events stay in the open segment

  it('a batch that would pass the bound is 503 SOL_ERR_BACKLOG_FULL with Retry-After, and nothing of it is stored', async () => {
    let s: TestServer | null = await startTestServer(opts);
    const dataDir = s.dataDir;
    try {
      const first = Array.from({ length: 3 }, () => makeEvent());
      expect((await postEvents(s.url, s.writeKey, { batch: first, sentAt: now() })).body).toMatchObject({ success: true, processed: 3 });

      const refused = Array.from({ length: 3 }, () => makeEvent()); // 3 + 3 > 5
      const r = await postEvents(s.url, s.writeKey, { batch: refused, sentAt: now() });
      expectError(r, 503, 'SOL_ERR_BACKLOG_FULL');
      expect(r.headers.get('retry-after')).toBe('5');

      const fits = Array.from({ length: 2 }, () => makeEvent()); // 3 + 2 = 5: at the bound, not past it
      expect((await postEvents(s.url, s.writeKey, { batch: fits, sentAt: now() })).body).toMatchObject({ success: true, processed: 2 });
      const one = makeEvent();
      const r2 = await postEvents(s.url, s.writeKey, { batch: [one], sentAt: now() });
      expectError(r2, 503, 'SOL_ERR_BACKLOG_FULL');
      expect(Number(r2.headers.get('retry-after'))).toBeGreaterThan(0);

      const metrics = await metricsText(s.url);
      expect(metricValue(metrics, 'solute_processing_backlog_events')).toBe(LIMIT);
      const ready = await getJson(s.url, '/readyz');
      expect(ready.status).toBe(503);
      expect(ready.body.checks.backlogBelowLimit).toBe(false);
      expect((await getJson(s.url, '/healthz')).status).toBe(200); // alive, just not taking more

      // Shutting down hands the open segment to the processor; a restart on the same data shows what was stored.
      await s.close();
      s = await startTestServer(opts, dataDir);
      const stored = new Set((await readAll(s.url, s.secretKey)).map((e) => e.messageId));
      expect(stored).toEqual(new Set([...first, ...fits].map((e) => e.messageId)));
      // The refused events claimed no messageId: sent again, they are new, not duplicates.
      const again = await postEvents(s.url, s.writeKey, { batch: refused, sentAt: now() });
      expect(again.body).toMatchObject({ success: true, processed: 3, duplicates: 0 });
    } finally {
      await s?.close();
    }
  });

  it('holds under concurrent requests: no more than the bound is accepted', async () => {
    const s = await startTestServer(opts);
    try {
      const events = Array.from({ length: 12 }, () => makeEvent());
      const answers = await Promise.all(events.map((e) => postEvents(s.url, s.writeKey, { batch: [e], sentAt: now() })));
      const ok = answers.filter((a) => a.status === 200);
      const full = answers.filter((a) => a.status === 503);
      expect(ok.length + full.length).toBe(events.length);
      expect(ok).toHaveLength(LIMIT);
      for (const a of full) expectError(a, 503, 'SOL_ERR_BACKLOG_FULL');
      expect(metricValue(await metricsText(s.url), 'solute_processing_backlog_events')).toBe(LIMIT);
    } finally {
      await s.close();
    }
  });

  it('a batch of duplicates only is refused the same way while the backlog is full', async () => {
    const s = await startTestServer(opts);
    try {
      const batch = Array.from({ length: LIMIT }, () => makeEvent());
      expect((await postEvents(s.url, s.writeKey, { batch, sentAt: now() })).status).toBe(200);
      const r = await postEvents(s.url, s.writeKey, { batch: batch.slice(0, 1), sentAt: now() });
      expectError(r, 503, 'SOL_ERR_BACKLOG_FULL');
    } finally {
      await s.close();
    }
  });
});
