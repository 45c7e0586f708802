// /v1 rules where they differ from /api/events (Segment's behaviour), read back through GET /api/events.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { getEvents, makeEvent, postEvents, startTestServer, type TestServer } from '../helpers/solute.js';
import { expectError, readAll, waitStored } from '../helpers/assertions.js';
import { basic, postV1 } from '../helpers/v1.js';

const mid = () => `m_${randomUUID()}`;

describe('/v1 rules', () => {
  let s: TestServer;
  let auth: Record<string, string>;
  beforeAll(async () => {
    s = await startTestServer();
    auth = { authorization: basic(s.writeKey) };
  });
  afterAll(() => s.close());

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) => postV1(s.url, path, body, { ...auth, ...headers });
  const stored = async (messageId: string) => {
    await waitStored(s.url);
    return (await getEvents(s.url, s.secretKey, { messageId })).body.events as Array<Record<string, any>>;
  };

  describe('single-event routes: the body is one event, its type from the route', () => {
    const cases: Array<[string, string, Record<string, unknown>]> = [
      ['/v1/track', 'track', { event: 'Signed Up', properties: { plan: 'pro' } }],
      ['/v1/t', 'track', { event: 'Signed Up' }],
      ['/v1/identify', 'identify', { traits: { email: 'a@b.c' } }],
      ['/v1/i', 'identify', {}],
      ['/v1/page', 'page', { name: 'Home', properties: { path: '/' } }],
      ['/v1/p', 'page', {}],
      ['/v1/screen', 'screen', { name: 'Settings' }],
      ['/v1/s', 'screen', { name: 'Settings' }],
      ['/v1/group', 'group', { groupId: 'g1', traits: { name: 'Acme' } }],
      ['/v1/g', 'group', { groupId: 'g1' }],
      ['/v1/alias', 'alias', { previousId: 'anon_1' }],
      ['/v1/a', 'alias', { previousId: 'anon_1' }],
    ];
    it.each(cases)('%s stores a %s event', async (path, type, fields) => {
      const messageId = mid();
      // The route's type wins over a `type` in the body.
      const r = await post(path, { ...fields, type: 'bogus', userId: 'u1', messageId, timestamp: '2025-01-15T10:30:00Z', sentAt: '2025-01-15T10:30:05Z' });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body).toEqual({ success: true, processed: 1, failed: 0, duplicates: 0, errors: [] });
      const [e] = await stored(messageId);
      expect(e).toMatchObject({ ...fields, type, userId: 'u1', messageId, originalTimestamp: '2025-01-15T10:30:00Z', sentAt: '2025-01-15T10:30:05Z' });
      // Clock skew, as on /api/events: timestamp = receivedAt - (sentAt - originalTimestamp).
      expect(Date.parse(e.timestamp)).toBe(Date.parse(e.receivedAt) - 5000);
    });

    it('a single event that is invalid gets 200 with the per-event body (not 400)', async () => {
      const r = await post('/v1/track', { userId: 'u1', messageId: mid() }); // no `event`
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ success: false, processed: 0, failed: 1, duplicates: 0, errors: [{ index: 0, code: 'SOL_ERR_EVENT_INVALID', error: '`event` is required for track events' }] });
    });

    it('/v1/batch and /v1/b take {batch} with a type on each event, screen included', async () => {
      for (const path of ['/v1/batch', '/v1/b']) {
        const ids = [mid(), mid()];
        const r = await post(path, { batch: [{ type: 'screen', name: 'Home', anonymousId: 'a1', messageId: ids[0] }, { type: 'track', event: 'X', anonymousId: 'a1', messageId: ids[1] }] });
        expect(r.body).toMatchObject({ success: true, processed: 2 });
        expect((await stored(ids[0]))[0]).toMatchObject({ type: 'screen', name: 'Home' });
        expect((await stored(ids[1]))[0]).toMatchObject({ type: 'track', event: 'X' });
      }
      const screens = await readAll(s.url, s.secretKey, { type: 'screen' });
      expect(screens.length).toBeGreaterThanOrEqual(4);
    });
  });

  describe('screen stays a /v1 type', () => {
    it('POST /api/events still refuses type screen (the spec lists five types)', async () => {
      const r = await postEvents(s.url, s.writeKey, { batch: [makeEvent({ type: 'screen', event: undefined, name: 'Home' })], sentAt: new Date().toISOString() });
      expect(r.status).toBe(400);
      expect(r.body.errors[0].error).toBe('`type` must be one of track, identify, page, group, alias');
    });

    it('an unknown type on /v1/batch names the six types', async () => {
      const r = await post('/v1/batch', { batch: [{ type: 'screenview', userId: 'u' }] });
      expect(r.status).toBe(200);
      expect(r.body.errors[0].error).toBe('`type` must be one of track, identify, page, group, alias, screen');
    });
  });

  describe('messageId, context, sentAt and timestamps', () => {
    it('a missing messageId is assigned by the server (so that event cannot be deduplicated)', async () => {
      const tag = randomUUID();
      const body = { batch: [{ type: 'track', event: tag, userId: 'u1' }] };
      expect((await post('/v1/batch', body)).body).toMatchObject({ processed: 1, duplicates: 0 });
      expect((await post('/v1/batch', body)).body).toMatchObject({ processed: 1, duplicates: 0 });
      await waitStored(s.url);
      const events = await readAll(s.url, s.secretKey, { event: tag });
      expect(events).toHaveLength(2);
      for (const e of events) expect(e.messageId).toMatch(/^[0-9a-f-]{36}$/);
      expect(events[0].messageId).not.toBe(events[1].messageId);
    });

    it('a messageId that is sent dedupes as on /api/events, across /v1 and /api/events', async () => {
      const messageId = mid();
      expect((await post('/v1/track', { event: 'Once', userId: 'u1', messageId })).body).toMatchObject({ processed: 1, duplicates: 0 });
      expect((await post('/v1/batch', { batch: [{ type: 'track', event: 'Once', userId: 'u1', messageId }] })).body).toMatchObject({ processed: 1, duplicates: 1 });
      const r = await postEvents(s.url, s.writeKey, { batch: [makeEvent({ messageId })], sentAt: new Date().toISOString() });
      expect(r.body).toMatchObject({ processed: 1, duplicates: 1 });
      expect(await stored(messageId)).toHaveLength(1);
    });

    it('no context is fine ({} is stored); top-level context and integrations are merged into each event, its own keys winning', async () => {
      const ids = [mid(), mid(), mid()];
      const r = await post('/v1/batch', {
        context: { library: { name: 'batch-lib' }, ip: '1.2.3.4' },
        integrations: { All: false, Amplitude: true },
        batch: [
          { type: 'track', event: 'A', userId: 'u', messageId: ids[0] },
          { type: 'track', event: 'B', userId: 'u', messageId: ids[1], context: { ip: '5.6.7.8', locale: 'fr' }, integrations: { All: true } },
          { type: 'identify', userId: 'u', messageId: ids[2], context: null },
        ],
      });
      expect(r.body).toMatchObject({ success: true, processed: 3 });
      expect((await stored(ids[0]))[0]).toMatchObject({ context: { library: { name: 'batch-lib' }, ip: '1.2.3.4' }, integrations: { All: false, Amplitude: true } });
      expect((await stored(ids[1]))[0]).toMatchObject({ context: { library: { name: 'batch-lib' }, ip: '5.6.7.8', locale: 'fr' }, integrations: { All: true, Amplitude: true } });
      expect((await stored(ids[2]))[0].context).toEqual({ library: { name: 'batch-lib' }, ip: '1.2.3.4' });
      const single = mid();
      await post('/v1/identify', { userId: 'u', messageId: single });
      expect((await stored(single))[0].context).toEqual({ ip: '127.0.0.1' }); // only what enrichment adds
    });

    it('no sentAt anywhere: sentAt is receivedAt and the timestamp is kept as sent', async () => {
      const messageId = mid();
      await post('/v1/batch', { batch: [{ type: 'track', event: 'E', userId: 'u', messageId, timestamp: '2025-01-15T10:30:00.000Z' }] });
      const [e] = await stored(messageId);
      expect(e.sentAt).toBe(e.receivedAt);
      expect(e.timestamp).toBe('2025-01-15T10:30:00.000Z');
      expect(e.originalTimestamp).toBe('2025-01-15T10:30:00.000Z');
    });

    it('no timestamp, no originalTimestamp, no sentAt: the event time is receivedAt', async () => {
      const messageId = mid();
      await post('/v1/track', { event: 'E', userId: 'u', messageId });
      const [e] = await stored(messageId);
      expect(e.timestamp).toBe(e.receivedAt);
      expect(e.originalTimestamp).toBe(e.receivedAt);
    });

    it('batch sentAt corrects the skew of `timestamp` (Segment node)', async () => {
      const messageId = mid();
      await post('/v1/batch', { sentAt: '2025-01-15T11:30:05Z', batch: [{ type: 'track', event: 'E', userId: 'u', messageId, timestamp: '2025-01-15T11:30:00Z' }] });
      const [e] = await stored(messageId);
      expect(e).toMatchObject({ sentAt: '2025-01-15T11:30:05Z', originalTimestamp: '2025-01-15T11:30:00Z' });
      expect(Date.parse(e.timestamp)).toBe(Date.parse(e.receivedAt) - 5000);
    });

    it('per-event sentAt and originalTimestamp (RudderStack node): each event corrected with its own sentAt', async () => {
      const ids = [mid(), mid()];
      await post('/v1/batch', {
        sentAt: '2025-01-15T11:00:00Z', // the events' own sentAt wins
        batch: [
          { type: 'track', event: 'E', userId: 'u', messageId: ids[0], originalTimestamp: '2025-01-15T10:00:00Z', sentAt: '2025-01-15T10:00:03Z' },
          { type: 'track', event: 'E', userId: 'u', messageId: ids[1], originalTimestamp: '2025-01-15T10:00:00Z', sentAt: '2025-01-15T10:00:07Z' },
        ],
      });
      const [a] = await stored(ids[0]);
      const [b] = await stored(ids[1]);
      expect(a).toMatchObject({ sentAt: '2025-01-15T10:00:03Z', originalTimestamp: '2025-01-15T10:00:00Z' });
      expect(b).toMatchObject({ sentAt: '2025-01-15T10:00:07Z', originalTimestamp: '2025-01-15T10:00:00Z' });
      expect(Date.parse(a.timestamp)).toBe(Date.parse(a.receivedAt) - 3000);
      expect(Date.parse(b.timestamp)).toBe(Date.parse(b.receivedAt) - 7000);
    });

    it('an invalid per-event sentAt fails that event only; an invalid batch sentAt is 400 SOL_ERR_BATCH_SENT_AT_INVALID', async () => {
      const r = await post('/v1/batch', { batch: [{ type: 'track', event: 'E', userId: 'u', sentAt: 'yesterday' }, { type: 'track', event: 'E', userId: 'u' }] });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ processed: 1, failed: 1, errors: [{ index: 0, code: 'SOL_ERR_EVENT_INVALID' }] });
      expect(r.body.errors[0].error).toContain('`sentAt`');
      expectError(await post('/v1/batch', { sentAt: 'yesterday', batch: [{ type: 'track', event: 'E', userId: 'u' }] }), 400, 'SOL_ERR_BATCH_SENT_AT_INVALID');
    });
  });

  describe('limits and answers', () => {
    it('no cap on the number of events: 500 in one batch are accepted', async () => {
      const tag = randomUUID();
      const batch = Array.from({ length: 500 }, (_, i) => ({ type: 'track', event: tag, userId: `u${i}` }));
      const r = await post('/v1/batch', { batch });
      expect(r.body).toMatchObject({ success: true, processed: 500, failed: 0 });
      await waitStored(s.url);
      expect(await readAll(s.url, s.secretKey, { event: tag })).toHaveLength(500);
    });

    it('32 KB per event: a larger one fails alone with SOL_ERR_EVENT_TOO_LARGE', async () => {
      const r = await post('/v1/batch', { batch: [{ type: 'track', event: 'Big', userId: 'u', properties: { pad: 'x'.repeat(33_000) } }, { type: 'track', event: 'Small', userId: 'u' }] });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ processed: 1, failed: 1, errors: [{ index: 0, code: 'SOL_ERR_EVENT_TOO_LARGE' }] });
    });

    it('a batch with no valid event still gets 200 with the per-event body', async () => {
      const r = await post('/v1/batch', { batch: [{ type: 'track', userId: 'u' }, 'nope', { type: 'group', userId: 'u' }] });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({
        success: false,
        processed: 0,
        failed: 3,
        duplicates: 0,
        errors: [
          { index: 0, code: 'SOL_ERR_EVENT_INVALID', error: '`event` is required for track events' },
          { index: 1, code: 'SOL_ERR_EVENT_INVALID', error: 'event must be a JSON object' },
          { index: 2, code: 'SOL_ERR_EVENT_INVALID', error: '`groupId` is required for group events' },
        ],
      });
    });

    it.each([
      ['malformed JSON', '{"batch": [', 400, 'SOL_ERR_BODY_INVALID_JSON'],
      ['an empty body', '', 400, 'SOL_ERR_BODY_INVALID_JSON'],
      ['an array', '[]', 400, 'SOL_ERR_BODY_NOT_OBJECT'],
      ['no batch', '{"sentAt":"2025-01-15T10:30:05Z"}', 400, 'SOL_ERR_BATCH_MISSING'],
      ['an empty batch', '{"batch":[]}', 400, 'SOL_ERR_BATCH_EMPTY'],
    ] as const)('/v1/batch with %s: %s %s', async (_name, body, status, code) => {
      expectError(await post('/v1/batch', body), status, code);
    });

    it('a single-event route with a body that is not an object: 400 SOL_ERR_BODY_NOT_OBJECT', async () => {
      expectError(await post('/v1/track', '"hello"'), 400, 'SOL_ERR_BODY_NOT_OBJECT');
    });

    it('other methods and unknown /v1 paths are 404', async () => {
      expectError(await postV1(s.url, '/v1/import', { batch: [] }, auth), 404, 'SOL_ERR_ROUTE_NOT_FOUND');
      const r = await fetch(`${s.url}/v1/track`);
      expect(r.status).toBe(404);
    });
  });
});
