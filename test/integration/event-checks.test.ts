// Each event of a batch is checked on its own; invalid ones are reported by index, valid ones are kept.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getEvents, makeEvent, postEvents, startTestServer, type TestServer } from '../helpers/solute.js';
import { expectError, expectNoLeak, readAll, waitStored, withoutLoopbackIp } from '../helpers/assertions.js';

const now = () => new Date().toISOString();
const ADDED = ['receivedAt', 'originalTimestamp', 'sentAt', 'timestamp'];

/** The common fields only, for identify/page/group/alias (makeEvent builds a track event). */
function base(type: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return makeEvent({ type, event: undefined, properties: undefined, ...extra });
}

/** An invalid event and the field its error message must name. */
type Case = [name: string, event: unknown, field: string];

const INVALID: Case[] = [
  ['type missing', makeEvent({ type: undefined }), 'type'],
  ['type unknown', makeEvent({ type: 'screen' }), 'type'],
  ['type not a string', makeEvent({ type: 1 }), 'type'],
  ['timestamp missing', makeEvent({ timestamp: undefined }), 'timestamp'],
  ['timestamp free text', makeEvent({ timestamp: 'yesterday' }), 'timestamp'],
  ['timestamp a date only', makeEvent({ timestamp: '2025-01-15' }), 'timestamp'],
  ['timestamp without a zone', makeEvent({ timestamp: '2025-01-15T10:30:00' }), 'timestamp'],
  ['timestamp impossible', makeEvent({ timestamp: '2025-02-30T10:30:00Z' }), 'timestamp'],
  ['timestamp a number', makeEvent({ timestamp: 1736937000000 }), 'timestamp'],
  ['messageId missing', makeEvent({ messageId: undefined }), 'messageId'],
  ['messageId empty', makeEvent({ messageId: '' }), 'messageId'],
  ['messageId 201 characters', makeEvent({ messageId: 'm'.repeat(201) }), 'messageId'],
  ['messageId a number', makeEvent({ messageId: 789 }), 'messageId'],
  ['messageId null', makeEvent({ messageId: null }), 'messageId'],
  ['context missing', makeEvent({ context: undefined }), 'context'],
  ['context a string', makeEvent({ context: 'web' }), 'context'],
  ['context an array', makeEvent({ context: [] }), 'context'],
  ['context null', makeEvent({ context: null }), 'context'],
  ['neither userId nor anonymousId', makeEvent({ userId: undefined, anonymousId: undefined }), 'anonymousId'],
  ['userId a number', makeEvent({ userId: 123 }), 'userId'],
  ['userId empty', makeEvent({ userId: '' }), 'userId'],
  ['anonymousId an object', makeEvent({ anonymousId: {} }), 'anonymousId'],
  ['track without event', makeEvent({ event: undefined }), 'event'],
  ['track with an empty event', makeEvent({ event: '' }), 'event'],
  ['track with a numeric event', makeEvent({ event: 5 }), 'event'],
  ['properties not an object', makeEvent({ properties: 'x' }), 'properties'],
  ['traits an array', base('identify', { traits: ['a'] }), 'traits'],
  ['page name not a string', base('page', { name: 3 }), 'name'],
  ['group without groupId', base('group'), 'groupId'],
  ['alias without previousId', base('alias'), 'previousId'],
  ['alias without userId', base('alias', { previousId: 'anon_1', userId: undefined }), 'userId'],
];

const VALID: Array<[string, Record<string, unknown>]> = [
  ['the spec example messageId msg_789 (not a UUID)', makeEvent({ messageId: `msg_789` })],
  ['a messageId of 200 characters', makeEvent({ messageId: 'x'.repeat(199) + 'y' })],
  ['a non-ASCII messageId', makeEvent({ messageId: 'ключ-📦-' + Math.random() })],
  ['identify with the common fields only', base('identify')],
  ['identify with traits', base('identify', { traits: { email: 'a@b.c' } })],
  ['page with the common fields only', base('page', { userId: undefined })],
  ['page with name and category', base('page', { name: 'Home', category: 'Docs' })],
  ['group with groupId', base('group', { groupId: 'g_1' })],
  ['alias with previousId and userId', base('alias', { previousId: 'anon_456', anonymousId: undefined })],
  ['track with only anonymousId', makeEvent({ userId: undefined })],
  ['a timestamp with an offset and fractions', makeEvent({ timestamp: '2025-01-15T12:30:00.123456+02:00' })],
  ['extra fields', makeEvent({ integrations: { All: true }, version: 2 })],
];

describe('per-event checks', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s.close());

  it.each(INVALID)('%s: rejected with a message naming the field', async (_name, event, field) => {
    const r = await postEvents(s.url, s.writeKey, { batch: [event], sentAt: now() });
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ success: false, processed: 0, failed: 1, duplicates: 0, code: 'SOL_ERR_BATCH_NO_VALID_EVENTS' });
    expect(r.body.errors).toHaveLength(1);
    expect(r.body.errors[0]).toEqual({ index: 0, code: 'SOL_ERR_EVENT_INVALID', error: expect.any(String) });
    expect(r.body.errors[0].error).toContain(field);
    expectNoLeak(r.body);
  });

  it.each([['null', null], ['a string', 'track'], ['a number', 1], ['an array', [makeEvent()]]])('an event that is %s is rejected', async (_name, event) => {
    const r = await postEvents(s.url, s.writeKey, { batch: [event], sentAt: now() });
    expect(r.status).toBe(400);
    expect(r.body.errors).toEqual([{ index: 0, code: 'SOL_ERR_EVENT_INVALID', error: expect.stringContaining('object') }]);
  });

  it.each(VALID)('%s: accepted', async (_name, event) => {
    const r = await postEvents(s.url, s.writeKey, { batch: [event], sentAt: now() });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toEqual({ success: true, processed: 1, failed: 0, duplicates: 0, errors: [] });
  });

  it('a mixed batch keeps the valid events, reports each invalid one by index, and answers 200', async () => {
    // Interleave: valid, invalid, valid, invalid, ...
    const batch: unknown[] = [];
    const expectedErrors: Array<{ index: number; field: string }> = [];
    const valid: Array<Record<string, unknown>> = [];
    INVALID.forEach(([, bad, field], i) => {
      const good = VALID[i % VALID.length][1];
      const fresh = { ...structuredClone(good), messageId: `mixed-${i}-${Math.random()}` };
      batch.push(fresh);
      valid.push(fresh);
      expectedErrors.push({ index: batch.length, field });
      batch.push(structuredClone(bad));
    });
    expect(batch.length).toBeLessThanOrEqual(100);
    const sentAt = now();
    const r = await postEvents(s.url, s.writeKey, { batch, sentAt });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ success: false, processed: valid.length, failed: INVALID.length, duplicates: 0 });
    expect(r.body.processed + r.body.failed).toBe(batch.length);
    expect(r.body.code).toBeUndefined(); // 200 carries the per-event body only
    expect(r.body.errors.map((e: { index: number }) => e.index)).toEqual(expectedErrors.map((e) => e.index));
    r.body.errors.forEach((e: { index: number; code: string; error: string }, i: number) => {
      expect(e.code).toBe('SOL_ERR_EVENT_INVALID');
      expect(e.error).toContain(expectedErrors[i].field);
    });

    await waitStored(s.url);
    for (const sent of valid) {
      const q = await getEvents(s.url, s.secretKey, { messageId: sent.messageId as string });
      expect(q.body.events).toHaveLength(1);
      const stored = withoutLoopbackIp(q.body.events[0], sent);
      // Everything sent is kept; Solute adds receivedAt, originalTimestamp and sentAt, and corrects timestamp.
      const { receivedAt, originalTimestamp, sentAt: storedSentAt, timestamp, ...rest } = stored;
      const { timestamp: sentTimestamp, ...sentRest } = sent;
      expect(rest).toEqual(sentRest);
      expect(originalTimestamp).toBe(sentTimestamp);
      expect(storedSentAt).toBe(sentAt);
      expect(typeof receivedAt).toBe('string');
      expect(typeof timestamp).toBe('string');
    }
  });

  it('a batch of only invalid events is 400 with the per-event body and a stable code; nothing is stored', async () => {
    const batch = [makeEvent({ type: 'nope' }), makeEvent({ context: undefined }), makeEvent({ messageId: '' })];
    const r = await postEvents(s.url, s.writeKey, { batch, sentAt: now() });
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ success: false, processed: 0, failed: 3, duplicates: 0, code: 'SOL_ERR_BATCH_NO_VALID_EVENTS' });
    expect(typeof r.body.message).toBe('string');
    expect(r.body.errors.map((e: { index: number }) => e.index)).toEqual([0, 1, 2]);
    await waitStored(s.url);
    expect((await getEvents(s.url, s.secretKey, { messageId: batch[0].messageId as string })).body.events).toEqual([]);
  });

  it('an event nested deeper than the limit is refused on its own (it used to fail the whole batch with a 500)', async () => {
    for (const depth of [65, 10_000, 100_000]) {
      const deep = makeEvent();
      const ok = makeEvent();
      // Raw JSON: a value this deep cannot be built with JSON.stringify here either.
      const body = `{"batch":[${JSON.stringify(deep).replace('"properties":{', `"properties":{"deep":${'['.repeat(depth)}${']'.repeat(depth)},`)},${JSON.stringify(ok)}],"sentAt":"${now()}"}`;
      const r = await postEvents(s.url, s.writeKey, body);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body).toMatchObject({ success: false, processed: 1, failed: 1 });
      expect(r.body.errors).toEqual([{ index: 0, code: 'SOL_ERR_EVENT_INVALID', error: expect.stringContaining('`properties`') }]);
    }
    // 64 levels in all (event > properties > 62 arrays) are fine, and stored.
    const fine = makeEvent({ messageId: `nest-${Math.random()}` });
    let v: unknown = 'leaf';
    for (let i = 0; i < 62; i++) v = [v];
    (fine.properties as Record<string, unknown>).deep = v;
    expect((await postEvents(s.url, s.writeKey, { batch: [fine], sentAt: now() })).status).toBe(200);
    await waitStored(s.url);
    const [stored] = (await getEvents(s.url, s.secretKey, { messageId: fine.messageId as string })).body.events;
    expect(stored.properties).toEqual(fine.properties);
  });

  it('stores each valid event exactly as sent plus the added fields', async () => {
    const e = makeEvent({ messageId: `exact-${Math.random()}`, properties: { nested: { a: [1, 'two', null, true, { b: 1.5 }] }, unicode: 'ünï©ødé 🚀' } });
    const sentAt = now();
    await postEvents(s.url, s.writeKey, { batch: [e], sentAt });
    await waitStored(s.url);
    const [row] = (await getEvents(s.url, s.secretKey, { messageId: e.messageId as string })).body.events;
    const stored = withoutLoopbackIp(row, e);
    expect(row.context.ip).toBe('127.0.0.1'); // enrichment's only addition here (no userAgent sent)
    expect(Object.keys(stored).sort()).toEqual([...new Set([...Object.keys(e), ...ADDED])].sort());
    for (const k of Object.keys(e)) if (k !== 'timestamp') expect(stored[k]).toEqual(e[k]);
  });
});

describe('per-event size limit', () => {
  let s: TestServer;
  const LIMIT = 1024;
  beforeAll(async () => {
    s = await startTestServer({ maxEventBytes: LIMIT });
  });
  afterAll(() => s.close());

  /** An event whose JSON is exactly `bytes` bytes (UTF-8), padded in properties.pad with `unit`. */
  function sizedEvent(bytes: number, unit = 'a', extra: Record<string, unknown> = {}): Record<string, unknown> {
    const e = makeEvent({ ...extra, properties: { pad: '' } });
    const unitBytes = Buffer.byteLength(unit);
    const missing = bytes - Buffer.byteLength(JSON.stringify(e));
    const pad = unit.repeat(Math.floor(missing / unitBytes)) + 'a'.repeat(missing % unitBytes);
    (e.properties as { pad: string }).pad = pad;
    expect(Buffer.byteLength(JSON.stringify(e))).toBe(bytes);
    return e;
  }

  it('an event of exactly maxEventBytes is accepted; one byte more is SOL_ERR_EVENT_TOO_LARGE, and the rest of the batch is kept', async () => {
    const atLimit = sizedEvent(LIMIT);
    const over = sizedEvent(LIMIT + 1);
    const small = makeEvent();
    const r = await postEvents(s.url, s.writeKey, { batch: [atLimit, over, small], sentAt: now() });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ success: false, processed: 2, failed: 1, duplicates: 0 });
    expect(r.body.errors).toEqual([{ index: 1, code: 'SOL_ERR_EVENT_TOO_LARGE', error: expect.stringContaining(String(LIMIT)) }]);
  });

  it('the limit is on UTF-8 bytes, not characters', async () => {
    const multi = sizedEvent(LIMIT + 2, 'é'); // fewer characters than bytes
    expect(JSON.stringify(multi).length).toBeLessThan(LIMIT);
    const r = await postEvents(s.url, s.writeKey, { batch: [multi], sentAt: now() });
    expect(r.status).toBe(400);
    expect(r.body.errors).toEqual([{ index: 0, code: 'SOL_ERR_EVENT_TOO_LARGE', error: expect.any(String) }]);
    const fits = sizedEvent(LIMIT, '€');
    expect((await postEvents(s.url, s.writeKey, { batch: [fits], sentAt: now() })).status).toBe(200);
  });

  it('the limit does not depend on how long the timestamps are written', async () => {
    // Long-form timestamps grow the fields Solute adds; the event as sent is what counts.
    const long = '2025-01-15T12:30:00.123456789+02:00';
    const atLimit = sizedEvent(LIMIT, 'a', { timestamp: long });
    const over = sizedEvent(LIMIT + 1, 'a', { timestamp: long });
    const r = await postEvents(s.url, s.writeKey, { batch: [atLimit, over], sentAt: '2025-01-15T10:30:05.987654321Z' });
    expect(r.body).toMatchObject({ processed: 1, failed: 1 });
    expect(r.body.errors[0]).toMatchObject({ index: 1, code: 'SOL_ERR_EVENT_TOO_LARGE' });
  });

  it('an event that carries the fields Solute sets is measured as sent, and those fields are replaced', async () => {
    const own = { receivedAt: 'client-made', sentAt: 'also client-made', originalTimestamp: 'x' };
    const atLimit = sizedEvent(LIMIT, 'a', own);
    const over = sizedEvent(LIMIT + 1, 'a', own);
    const sentAt = now();
    const r = await postEvents(s.url, s.writeKey, { batch: [atLimit, over], sentAt });
    expect(r.body).toMatchObject({ processed: 1, failed: 1 });
    expect(r.body.errors).toEqual([{ index: 1, code: 'SOL_ERR_EVENT_TOO_LARGE', error: expect.stringContaining(`${LIMIT + 1} bytes`) }]);
    await waitStored(s.url);
    const [stored] = (await getEvents(s.url, s.secretKey, { messageId: atLimit.messageId as string })).body.events;
    expect(stored.sentAt).toBe(sentAt);
    expect(stored.originalTimestamp).toBe(atLimit.timestamp);
    expect(Number.isFinite(Date.parse(stored.receivedAt))).toBe(true);
  });

  it('an oversized event is never counted as a duplicate', async () => {
    const small = makeEvent();
    expect((await postEvents(s.url, s.writeKey, { batch: [small], sentAt: now() })).body.processed).toBe(1);
    const big = sizedEvent(LIMIT + 100, 'a', { messageId: small.messageId });
    const r = await postEvents(s.url, s.writeKey, { batch: [big], sentAt: now() });
    expect(r.body).toMatchObject({ processed: 0, failed: 1, duplicates: 0 });
  });
});

describe('per-event size limit (default 32 KB)', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s.close());

  it('accepts an event of 32 KB and rejects one of 32 KB + 1 byte', async () => {
    const mk = (bytes: number) => {
      const e = makeEvent({ properties: { pad: '' } });
      (e.properties as { pad: string }).pad = 'z'.repeat(bytes - Buffer.byteLength(JSON.stringify(e)));
      return e;
    };
    const fits = mk(32 * 1024);
    const over = mk(32 * 1024 + 1);
    const r = await postEvents(s.url, s.writeKey, { batch: [fits, over], sentAt: now() });
    expect(r.body).toMatchObject({ processed: 1, failed: 1 });
    expect(r.body.errors).toEqual([{ index: 1, code: 'SOL_ERR_EVENT_TOO_LARGE', error: expect.stringContaining('32768') }]);
    await waitStored(s.url);
    const stored = (await readAll(s.url, s.secretKey)).map((e) => e.messageId);
    expect(stored).toContain(fits.messageId);
    expect(stored).not.toContain(over.messageId);
  });

  it('an all-invalid batch body is still an error body', async () => {
    const r = await postEvents(s.url, s.writeKey, { batch: [{}], sentAt: now() });
    expect(r.status).toBe(400);
    expect(r.body.success).toBe(false);
    expect(r.body.code).toBe('SOL_ERR_BATCH_NO_VALID_EVENTS');
    // Not one of the request-level error shapes: it carries the per-event fields too.
    expect(r.body).toHaveProperty('errors');
    expectError(r, 400, 'SOL_ERR_BATCH_NO_VALID_EVENTS');
  });
});
