// CORS on every ingest route (/api/events and /v1/*), for browser SDKs; none on the other routes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeEvent, postEvents, startTestServer, type TestServer } from '../helpers/solute.js';
import { expectError } from '../helpers/assertions.js';
import { basic, postV1 } from '../helpers/v1.js';
import { SEGMENT_METRICS_ROUTE, SEGMENT_ROUTES } from '../../src/ingest/routes/segment.route.js';

const INGEST = ['/api/events', ...Object.keys(SEGMENT_ROUTES), SEGMENT_METRICS_ROUTE];

describe('CORS', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ backlogMaxEvents: 2, maxBatchEvents: 1 });
  });
  afterAll(() => s.close());

  const preflight = (path: string, origin = 'https://shop.example', headers = 'authorization,content-type,x-retry-count') =>
    fetch(s.url + path, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': headers } });

  it.each(INGEST)('preflight of %s: 204 for any origin, the SDKs headers allowed, cached an hour or more', async (path) => {
    for (const origin of ['https://shop.example', 'http://localhost:3000', 'null']) {
      const r = await preflight(path, origin);
      expect(r.status).toBe(204);
      expect(r.headers.get('access-control-allow-origin')).toBe('*');
      expect(r.headers.get('access-control-allow-credentials')).toBeNull();
      expect(r.headers.get('access-control-allow-methods')).toContain('POST');
      const allowed = (r.headers.get('access-control-allow-headers') ?? '').toLowerCase().split(/\s*,\s*/);
      for (const h of ['content-type', 'authorization', 'x-api-key', 'x-retry-count']) expect(allowed).toContain(h);
      expect(Number(r.headers.get('access-control-max-age'))).toBeGreaterThanOrEqual(3600);
    }
  });

  it('answers on ingest routes carry Allow-Origin * and expose Retry-After, errors included, never with credentials', async () => {
    const origin = { origin: 'https://shop.example' };
    const answers = [
      await postV1(s.url, '/v1/track', { event: 'E', userId: 'u' }, { ...origin, authorization: basic(s.writeKey), 'content-type': 'text/plain' }), // 200
      await postV1(s.url, '/v1/track', { event: 'E', userId: 'u' }, origin), // 401
      await postV1(s.url, '/v1/batch', '{', { ...origin, authorization: basic(s.writeKey) }), // 400
      await postV1(s.url, '/v1/m', '{}', { ...origin, 'content-type': 'text/plain' }),
      await postEvents(s.url, s.writeKey, { batch: [makeEvent()], sentAt: new Date().toISOString() }, origin),
      await postEvents(s.url, undefined, {}, origin),
    ];
    for (const r of answers) {
      expect(r.headers.get('access-control-allow-origin'), JSON.stringify(r.body)).toBe('*');
      expect(r.headers.get('access-control-expose-headers')).toMatch(/\bRetry-After\b/i);
      expect(r.headers.get('access-control-allow-credentials')).toBeNull();
    }
  });

  it('a 429 (load shed on /v1) with Retry-After exposes it to scripts', async () => {
    // backlogMaxEvents 2: three events at once (no cap on /v1) are refused with 429 + Retry-After.
    const e = { type: 'track', event: 'E', userId: 'u' };
    const r = await postV1(s.url, '/v1/batch', { batch: [e, e, e] }, { origin: 'https://a.example', authorization: basic(s.writeKey) });
    expectError(r, 429, 'SOL_ERR_INGEST_SLOW_DOWN');
    expect(r.body.message).toContain('backlog');
    expect(r.headers.get('retry-after')).toBeTruthy();
    expect(r.headers.get('access-control-allow-origin')).toBe('*');
    expect(r.headers.get('access-control-expose-headers')).toMatch(/\bRetry-After\b/i);
  });

  it('no CORS on the read and operations routes', async () => {
    for (const path of ['/metrics', '/healthz', '/api/events']) {
      const r = await fetch(s.url + path, { headers: { origin: 'https://shop.example', authorization: `Bearer ${s.secretKey}` } });
      expect(r.headers.get('access-control-allow-origin'), path).toBeNull();
    }
    for (const path of ['/metrics', '/healthz', '/nope']) {
      const r = await fetch(s.url + path, { method: 'OPTIONS', headers: { origin: 'https://shop.example', 'access-control-request-method': 'GET' } });
      expect(r.status, path).toBe(404);
      expect(r.headers.get('access-control-allow-origin')).toBeNull();
    }
  });
});
