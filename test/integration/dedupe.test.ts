// Deduplication by messageId (within a batch, across batches, per project) and the answer's counts;
// timestamps (receivedAt, originalTimestamp, sentAt, and the clock-skew corrected timestamp).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getEvents, makeEvent, postEvents, startTestServer, type TestServer } from '../helpers/solute.js';
import { createKey, readAll, waitStored } from '../helpers/assertions.js';

const now = () => new Date().toISOString();
let seq = 0;
const mid = (tag: string) => `${tag}-${process.pid}-${++seq}`;

describe('dedupe and counts', () => {
  let s: TestServer;
  let other: { writeKey: string; secretKey: string };
  beforeAll(async () => {
    s = await startTestServer();
    other = { writeKey: createKey(s.dataDir, 'other'), secretKey: createKey(s.dataDir, 'other', 'secret') };
  });
  afterAll(() => s.close());

  const post = (batch: unknown[], key = s.writeKey) => postEvents(s.url, key, { batch, sentAt: now() });
  const stored = async (messageId: string, secretKey = s.secretKey) => (await getEvents(s.url, secretKey, { messageId })).body.events as Array<Record<string, any>>;

  it('within a batch the first valid event with a messageId wins: [invalid m1, valid m1, valid m1]', async () => {
    const m1 = mid('m1');
    const batch = [
      makeEvent({ messageId: m1, context: undefined, properties: { n: 0 } }),
      makeEvent({ messageId: m1, properties: { n: 1 } }),
      makeEvent({ messageId: m1, properties: { n: 2 } }),
    ];
    const r = await post(batch);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      success: false,
      processed: 2,
      failed: 1,
      duplicates: 1,
      errors: [{ index: 0, code: 'SOL_ERR_EVENT_INVALID', error: expect.stringContaining('context') }],
    });
    await waitStored(s.url);
    const got = await stored(m1);
    expect(got).toHaveLength(1);
    expect(got[0].properties).toEqual({ n: 1 });
  });

  it('a batch of one valid event repeated n times: processed n, duplicates n-1, stored once', async () => {
    const m = mid('rep');
    const r = await post(Array.from({ length: 10 }, (_, n) => makeEvent({ messageId: m, properties: { n } })));
    expect(r.body).toEqual({ success: true, processed: 10, failed: 0, duplicates: 9, errors: [] });
    await waitStored(s.url);
    expect((await stored(m)).map((e) => e.properties)).toEqual([{ n: 0 }]);
  });

  it('resending a batch counts every event as a duplicate and stores nothing twice', async () => {
    const batch = Array.from({ length: 20 }, () => makeEvent({ messageId: mid('resend') }));
    const first = await post(batch);
    expect(first.body).toEqual({ success: true, processed: 20, failed: 0, duplicates: 0, errors: [] });
    const again = await post(batch);
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ success: true, processed: 20, failed: 0, duplicates: 20, errors: [] });
    // Half old, half new.
    const mixed = [...batch.slice(0, 10), ...Array.from({ length: 10 }, () => makeEvent({ messageId: mid('resend-new') }))];
    expect((await post(mixed)).body).toEqual({ success: true, processed: 20, failed: 0, duplicates: 10, errors: [] });
    await waitStored(s.url);
    for (const e of mixed) expect(await stored(e.messageId as string)).toHaveLength(1);
  });

  it('an invalid event is never a duplicate, even with a messageId already stored', async () => {
    const e = makeEvent({ messageId: mid('inv') });
    expect((await post([e])).body.processed).toBe(1);
    const r = await post([{ ...e, type: 'bogus' }, { ...e, context: 'x' }]);
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ success: false, processed: 0, failed: 2, duplicates: 0 });
    // And the valid duplicate alongside an invalid one: processed 1 (a duplicate), failed 1.
    const r2 = await post([{ ...e, timestamp: 'nope' }, e]);
    expect(r2.status).toBe(200);
    expect(r2.body).toMatchObject({ success: false, processed: 1, failed: 1, duplicates: 1 });
  });

  it('the counts hold for random batches: processed + failed = length, duplicates computed independently', async () => {
    // A small deterministic generator (no Math.random in the expectations).
    let x = 123456789;
    const rnd = (n: number) => {
      x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
      return (x >>> 0) % n;
    };
    const pool = Array.from({ length: 30 }, () => mid('pool'));
    const seen = new Set<string>();
    const firstBody = new Map<string, number>();
    let tag = 0;
    for (let b = 0; b < 8; b++) {
      const len = 1 + rnd(60);
      const batch: Array<Record<string, unknown>> = [];
      let expFailed = 0, expDup = 0;
      for (let i = 0; i < len; i++) {
        const m = pool[rnd(pool.length)];
        const invalid = rnd(4) === 0;
        const e = makeEvent({ messageId: m, properties: { tag: ++tag } });
        if (invalid) {
          delete e.context;
          expFailed++;
        } else if (seen.has(m)) {
          expDup++;
        } else {
          seen.add(m);
          firstBody.set(m, tag);
        }
        batch.push(e);
      }
      const r = await post(batch);
      const processed = len - expFailed;
      expect(r.status).toBe(processed > 0 ? 200 : 400);
      expect(r.body).toMatchObject({ success: expFailed === 0, processed, failed: expFailed, duplicates: expDup });
      expect(r.body.processed + r.body.failed).toBe(len);
      expect(r.body.errors).toHaveLength(expFailed);
    }
    await waitStored(s.url);
    for (const m of pool) {
      const got = await stored(m);
      expect(got.map((e) => e.properties.tag)).toEqual(seen.has(m) ? [firstBody.get(m)] : []);
    }
  });

  it('the same batch sent concurrently is stored once; the answers count the rest as duplicates', async () => {
    const batch = Array.from({ length: 25 }, () => makeEvent({ messageId: mid('conc') }));
    const answers = await Promise.all(Array.from({ length: 6 }, () => post(batch)));
    for (const a of answers) expect(a.body).toMatchObject({ success: true, processed: 25, failed: 0 });
    expect(answers.reduce((n, a) => n + a.body.duplicates, 0)).toBe(25 * 5);
    await waitStored(s.url);
    for (const e of batch) expect(await stored(e.messageId as string)).toHaveLength(1);
  });

  it('dedupe is per project: the same messageId is stored in both, and each project reads only its own', async () => {
    const m = mid('shared');
    const a = await post([makeEvent({ messageId: m, properties: { project: 'test' } })]);
    const b = await post([makeEvent({ messageId: m, properties: { project: 'other' } })], other.writeKey);
    expect(a.body).toMatchObject({ processed: 1, duplicates: 0 });
    expect(b.body).toMatchObject({ processed: 1, duplicates: 0 });
    // Each project now knows it.
    expect((await post([makeEvent({ messageId: m })], other.writeKey)).body).toMatchObject({ processed: 1, duplicates: 1 });
    expect((await post([makeEvent({ messageId: m })])).body).toMatchObject({ processed: 1, duplicates: 1 });
    await waitStored(s.url);
    expect((await stored(m)).map((e) => e.properties)).toEqual([{ project: 'test' }]);
    expect((await stored(m, other.secretKey)).map((e) => e.properties)).toEqual([{ project: 'other' }]);
  });

  it('a duplicate is stored once in total: the whole store holds each accepted messageId once', async () => {
    await waitStored(s.url);
    const all = await readAll(s.url, s.secretKey);
    const ids = all.map((e) => e.messageId);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('timestamps (Segment clock-skew correction)', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s.close());

  it('a client clock 1 hour behind: timestamp = receivedAt - (sentAt - originalTimestamp)', async () => {
    const HOUR = 3_600_000;
    const clientNow = Date.now() - HOUR; // the client's clock is an hour slow
    const sentAt = new Date(clientNow).toISOString();
    // Offsets relative to sentAt, written in several ISO 8601 forms: kept verbatim as originalTimestamp.
    const forms: Array<[number, (ms: number) => string]> = [
      [-5_000, (ms) => new Date(ms).toISOString()],
      [-60_000, (ms) => new Date(ms).toISOString().replace('.000Z', 'Z').replace(/\.\d{3}Z$/, 'Z')],
      [-1_234, (ms) => shiftZone(ms, 5 * 60 + 30)], // +05:30
      [0, (ms) => shiftZone(ms, -8 * 60)], // -08:00
    ];
    const batch = forms.map(([offset, fmt]) => makeEvent({ timestamp: fmt(clientNow + offset) }));
    const before = Date.now();
    const r = await postEvents(s.url, s.writeKey, { batch, sentAt });
    const after = Date.now();
    expect(r.body).toMatchObject({ success: true, processed: batch.length });
    await waitStored(s.url);
    for (const e of batch) {
      const [stored] = (await getEvents(s.url, s.secretKey, { messageId: e.messageId as string })).body.events;
      expect(stored.originalTimestamp).toBe(e.timestamp); // verbatim, not normalised
      expect(stored.sentAt).toBe(sentAt);
      const received = Date.parse(stored.receivedAt);
      expect(stored.receivedAt).toBe(new Date(received).toISOString()); // server time, ISO 8601 UTC
      expect(received).toBeGreaterThanOrEqual(before);
      expect(received).toBeLessThanOrEqual(after);
      const expected = received - (Date.parse(sentAt) - Date.parse(e.timestamp as string));
      expect(stored.timestamp).toBe(new Date(expected).toISOString());
      // The correction moves the event about an hour forward, to the server's clock.
      const corrected = Date.parse(stored.timestamp);
      expect(Math.abs(corrected - (Date.parse(e.timestamp as string) + HOUR))).toBeLessThan(after - before + 1000);
    }
  });

  it('a client clock ahead of the server is corrected backwards; timestamps far in the past are kept relative', async () => {
    const sentAt = new Date(Date.now() + 2 * 86_400_000).toISOString(); // two days ahead
    const e1 = makeEvent({ timestamp: new Date(Date.parse(sentAt) - 10_000).toISOString() });
    const e2 = makeEvent({ timestamp: '2001-09-09T01:46:40Z' });
    const r = await postEvents(s.url, s.writeKey, { batch: [e1, e2], sentAt });
    expect(r.status).toBe(200);
    await waitStored(s.url);
    for (const e of [e1, e2]) {
      const q = await getEvents(s.url, s.secretKey, { messageId: e.messageId as string });
      const [stored] = q.body.events;
      expect(Date.parse(stored.timestamp)).toBe(Date.parse(stored.receivedAt) - (Date.parse(sentAt) - Date.parse(e.timestamp as string)));
    }
  });
});

/** The same instant written with a UTC offset of `minutes`, e.g. 2025-01-15T16:00:00.000+05:30. */
function shiftZone(ms: number, minutes: number): string {
  const local = new Date(ms + minutes * 60_000).toISOString().slice(0, -1);
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  return `${local}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}
