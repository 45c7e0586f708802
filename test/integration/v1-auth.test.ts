// /v1 auth: every place Segment's and RudderStack's SDKs put the write key, and the /api/events rules.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { getEvents, startTestServer, type TestServer } from '../helpers/solute.js';
import { expectError, waitStored } from '../helpers/assertions.js';
import { basic, postV1 } from '../helpers/v1.js';

describe('/v1 auth', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s.close());

  const ev = () => ({ event: 'Auth Checked', userId: 'u1', messageId: `m_${randomUUID()}` });

  const accepted: string[] = [];
  const forms: Array<[string, (key: string) => { path: string; body: (e: Record<string, unknown>) => unknown; headers: Record<string, string> }]> = [
    ['X-Api-Key', (k) => ({ path: '/v1/track', body: (e) => e, headers: { 'x-api-key': k } })],
    ['Basic key: (with the colon)', (k) => ({ path: '/v1/track', body: (e) => e, headers: { authorization: basic(k) } })],
    ['Basic key (without the colon)', (k) => ({ path: '/v1/track', body: (e) => e, headers: { authorization: basic(k, false) } })],
    ['writeKey at the top of a batch', (k) => ({ path: '/v1/batch', body: (e) => ({ batch: [{ ...e, type: 'track' }], writeKey: k }), headers: {} })],
    ['writeKey in an event of a batch', (k) => ({ path: '/v1/batch', body: (e) => ({ batch: [{ ...e, type: 'track', writeKey: k }] }), headers: {} })],
    ['writeKey in a single event', (k) => ({ path: '/v1/t', body: (e) => ({ ...e, writeKey: k }), headers: { 'content-type': 'text/plain' } })],
    ['?writeKey= in the query', (k) => ({ path: `/v1/t?writeKey=${encodeURIComponent(k)}`, body: (e) => e, headers: { 'content-type': 'text/plain' } })],
  ];

  it.each(forms)('%s: accepted and stored, without the writeKey', async (_name, form) => {
    const f = form(s.writeKey);
    const e = ev();
    const r = await postV1(s.url, f.path, f.body(e), f.headers);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ success: true, processed: 1, failed: 0 });
    accepted.push(e.messageId);
    await waitStored(s.url);
    const stored = (await getEvents(s.url, s.secretKey, { messageId: e.messageId })).body.events;
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ type: 'track', event: 'Auth Checked', userId: 'u1' });
    expect(stored[0]).not.toHaveProperty('writeKey');
  });

  it.each(forms)('%s with an unknown key: 401 SOL_ERR_AUTH_INVALID_KEY', async (_name, form) => {
    const f = form('wk_' + 'A'.repeat(32));
    expectError(await postV1(s.url, f.path, f.body(ev()), f.headers), 401, 'SOL_ERR_AUTH_INVALID_KEY');
  });

  it.each(forms)('%s with a secret key: 403 SOL_ERR_AUTH_WRONG_KEY_KIND', async (_name, form) => {
    const f = form(s.secretKey);
    expectError(await postV1(s.url, f.path, f.body(ev()), f.headers), 403, 'SOL_ERR_AUTH_WRONG_KEY_KIND');
  });

  it('no key anywhere: 401 SOL_ERR_AUTH_MISSING_KEY (an empty Basic user or empty X-Api-Key counts as none)', async () => {
    expectError(await postV1(s.url, '/v1/track', ev()), 401, 'SOL_ERR_AUTH_MISSING_KEY');
    expectError(await postV1(s.url, '/v1/batch', { batch: [{ ...ev(), type: 'track' }] }), 401, 'SOL_ERR_AUTH_MISSING_KEY');
    expectError(await postV1(s.url, '/v1/track', ev(), { authorization: basic('') }), 401, 'SOL_ERR_AUTH_MISSING_KEY');
    expectError(await postV1(s.url, '/v1/track', ev(), { 'x-api-key': '' }), 401, 'SOL_ERR_AUTH_MISSING_KEY');
    expectError(await postV1(s.url, '/v1/track?writeKey=', ev()), 401, 'SOL_ERR_AUTH_MISSING_KEY');
  });

  it('a header key is checked before the body is read: a bad key with malformed JSON is 401, not 400', async () => {
    expectError(await postV1(s.url, '/v1/batch', '{"batch": [', { authorization: basic('wk_unknown') }), 401, 'SOL_ERR_AUTH_INVALID_KEY');
    expectError(await postV1(s.url, '/v1/batch?writeKey=wk_unknown', '{"batch": ['), 401, 'SOL_ERR_AUTH_INVALID_KEY');
  });

  it('a wrong key in a header is refused even when the body holds the right one (no fallback)', async () => {
    const r = await postV1(s.url, '/v1/batch', { batch: [{ ...ev(), type: 'track' }], writeKey: s.writeKey }, { authorization: basic('wk_unknown') });
    expectError(r, 401, 'SOL_ERR_AUTH_INVALID_KEY');
  });

  it('/v1/m needs no key and stores nothing', async () => {
    const before = (await getEvents(s.url, s.secretKey, { limit: 1000 })).body.events.length;
    const r = await postV1(s.url, '/v1/m', { series: [{ type: 'Counter', metric: 'analytics_js.invoke', value: 1, tags: {} }] }, { 'content-type': 'text/plain' });
    expect(r.status).toBe(200);
    await waitStored(s.url);
    expect((await getEvents(s.url, s.secretKey, { limit: 1000 })).body.events.length).toBe(before);
  });
});
