// GET /api/events: filters, ordering, pagination, parameter checks and project isolation, checked
// against results computed independently from what the test sent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getEvents, makeEvent, postEvents, startTestServer, type TestServer } from '../helpers/solute.js';
import { createKey, expectError, getEventsRaw, readAll, waitStored, withoutLoopbackIp } from '../helpers/assertions.js';

type Ev = Record<string, any>;

const TYPES = ['track', 'identify', 'page', 'group', 'alias'] as const;
const NAMES = ['Signed Up', 'Button Clicked', 'Checkout'];
const USERS = ['u1', 'u2', 'u3'];
const ANONS = ['a1', 'a2'];

/** A deterministic generator, so the dataset is the same on every run. */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return (n: number) => {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    return (x >>> 0) % n;
  };
}

/** Builds `n` valid events of every type, with many equal timestamps (to exercise tie-breaking). */
function dataset(n: number, tag: string, seed: number, clientNow: number): Ev[] {
  const r = rng(seed);
  return Array.from({ length: n }, (_, i) => {
    const type = TYPES[r(TYPES.length)];
    const userId = type === 'alias' || r(4) > 0 ? USERS[r(USERS.length)] : undefined;
    const anonymousId = userId === undefined || r(2) === 0 ? ANONS[r(ANONS.length)] : undefined;
    const e = makeEvent({
      type,
      messageId: `${tag}-${i}`,
      timestamp: new Date(clientNow - r(40) * 1000).toISOString(),
      userId,
      anonymousId,
      event: type === 'track' ? NAMES[r(NAMES.length)] : undefined,
      properties: type === 'track' ? { i, tag } : undefined,
      traits: type === 'identify' ? { plan: ['free', 'pro'][r(2)] } : undefined,
      name: type === 'page' ? 'Home' : undefined,
      groupId: type === 'group' ? `g${r(3)}` : undefined,
      previousId: type === 'alias' ? `prev-${i}` : undefined,
    });
    return e;
  });
}

describe('GET /api/events', () => {
  let s: TestServer;
  let other: { writeKey: string; secretKey: string };
  /** Sent events of project "test" in send order, and of project "other". */
  const sent: Ev[] = [];
  const otherSent: Ev[] = [];
  const sentAtOf = new Map<string, string>();
  /** messageId -> [corrected timestamp ms, send order], from the stored events. */
  const ts = new Map<string, number>();
  const order = new Map<string, number>();

  /** Expected answer: the matching sent events, newest first (timestamp desc, then later sent first). */
  const expected = (pred: (e: Ev) => boolean) =>
    sent
      .filter(pred)
      .sort((a, b) => ts.get(b.messageId)! - ts.get(a.messageId)! || order.get(b.messageId)! - order.get(a.messageId)!)
      .map((e) => e.messageId as string);
  const ids = (events: Ev[]) => events.map((e) => e.messageId as string);

  beforeAll(async () => {
    s = await startTestServer();
    other = { writeKey: createKey(s.dataDir, 'other'), secretKey: createKey(s.dataDir, 'other', 'secret') };
    // Project "test": 260 events in batches of up to 100 (the last batches' client clock is 10 min slow).
    const events = dataset(260, 'q', 42, Date.now());
    for (let i = 0; i < events.length; i += 100) {
      const batch = events.slice(i, i + 100);
      const slow = i >= 200 ? 600_000 : 0;
      for (const e of batch) e.timestamp = new Date(Date.parse(e.timestamp) - slow).toISOString();
      const sentAt = new Date(Date.now() - slow).toISOString();
      const r = await postEvents(s.url, s.writeKey, { batch, sentAt });
      expect(r.body).toMatchObject({ success: true, processed: batch.length });
      for (const e of batch) {
        order.set(e.messageId, sent.length);
        sentAtOf.set(e.messageId, sentAt);
        sent.push(e);
      }
    }
    // Project "other": the same users, types and even some of the same messageIds.
    const theirs = dataset(60, 'q', 7, Date.now());
    const r = await postEvents(s.url, other.writeKey, { batch: theirs, sentAt: new Date().toISOString() });
    expect(r.body).toMatchObject({ success: true, processed: 60 });
    otherSent.push(...theirs);
    await waitStored(s.url);

    const all = await readAll(s.url, s.secretKey);
    expect(all).toHaveLength(sent.length);
    for (const e of all) {
      // The corrected timestamp, checked against the formula before it is used as the reference.
      const t = Date.parse(e.timestamp);
      expect(t).toBe(Date.parse(e.receivedAt) - (Date.parse(e.sentAt) - Date.parse(e.originalTimestamp)));
      ts.set(e.messageId, t);
    }
  });
  afterAll(() => s.close());

  it('answers {events, nextCursor}: every event as sent plus receivedAt, originalTimestamp, sentAt, timestamp', async () => {
    const all = await readAll(s.url, s.secretKey);
    const byId = new Map(all.map((e) => [e.messageId as string, e]));
    expect(new Set(byId.keys())).toEqual(new Set(sent.map((e) => e.messageId)));
    for (const e of sent) {
      const got = withoutLoopbackIp(byId.get(e.messageId)!, e);
      const { receivedAt, originalTimestamp, sentAt, timestamp, ...rest } = got;
      const { timestamp: sentTs, ...sentRest } = e;
      expect(rest).toEqual(sentRest);
      expect(originalTimestamp).toBe(sentTs);
      expect(sentAt).toBe(sentAtOf.get(e.messageId));
      expect(typeof receivedAt).toBe('string');
      expect(typeof timestamp).toBe('string');
    }
  });

  it('returns newest first (timestamp, then arrival), 100 by default, with a cursor', async () => {
    const r = await getEvents(s.url, s.secretKey);
    expect(r.status).toBe(200);
    expect(r.body.events).toHaveLength(100);
    expect(typeof r.body.nextCursor).toBe('string');
    expect(ids(r.body.events)).toEqual(expected(() => true).slice(0, 100));
  });

  it('limit 1 and limit 1000 are valid; a limit that covers everything answers nextCursor null', async () => {
    const one = await getEvents(s.url, s.secretKey, { limit: 1 });
    expect(ids(one.body.events)).toEqual(expected(() => true).slice(0, 1));
    const big = await getEvents(s.url, s.secretKey, { limit: 1000 });
    expect(ids(big.body.events)).toEqual(expected(() => true));
    expect(big.body.nextCursor).toBeNull();
    const exact = await getEvents(s.url, s.secretKey, { limit: sent.length });
    expect(exact.body.events).toHaveLength(sent.length);
    // Whether a cursor is offered at an exact fit is up to the server; following it must give nothing new.
    if (exact.body.nextCursor) {
      expect((await getEvents(s.url, s.secretKey, { cursor: exact.body.nextCursor })).body).toEqual({ events: [], nextCursor: null });
    }
  });

  it.each([1, 7, 13, 100])('pages of %i follow each other without overlap or gaps', async (limit) => {
    const got = await readAll(s.url, s.secretKey, {}, limit);
    expect(ids(got)).toEqual(expected(() => true));
  });

  it.each(TYPES)('type=%s', async (type) => {
    const want = expected((e) => e.type === type);
    expect(want.length).toBeGreaterThan(0);
    expect(ids(await readAll(s.url, s.secretKey, { type }, 17))).toEqual(want);
  });

  it.each(NAMES)('event=%s', async (name) => {
    const want = expected((e) => e.event === name);
    expect(want.length).toBeGreaterThan(0);
    expect(ids(await readAll(s.url, s.secretKey, { event: name }))).toEqual(want);
  });

  it.each(USERS)('userId=%s', async (userId) => {
    const want = expected((e) => e.userId === userId);
    expect(want.length).toBeGreaterThan(0);
    expect(ids(await readAll(s.url, s.secretKey, { userId }, 11))).toEqual(want);
  });

  it.each(ANONS)('anonymousId=%s', async (anonymousId) => {
    const want = expected((e) => e.anonymousId === anonymousId);
    expect(want.length).toBeGreaterThan(0);
    expect(ids(await readAll(s.url, s.secretKey, { anonymousId }))).toEqual(want);
  });

  it('messageId', async () => {
    for (const e of [sent[0], sent[137], sent.at(-1)!]) {
      expect(ids((await getEvents(s.url, s.secretKey, { messageId: e.messageId })).body.events)).toEqual([e.messageId]);
    }
    expect((await getEvents(s.url, s.secretKey, { messageId: 'no-such-id' })).body).toEqual({ events: [], nextCursor: null });
  });

  it('filters combine (AND)', async () => {
    const want = expected((e) => e.type === 'track' && e.userId === 'u1' && e.event === NAMES[0]);
    expect(ids(await readAll(s.url, s.secretKey, { type: 'track', userId: 'u1', event: NAMES[0] }, 3))).toEqual(want);
    const want2 = expected((e) => e.userId === 'u2' && e.anonymousId === 'a1');
    expect(ids(await readAll(s.url, s.secretKey, { userId: 'u2', anonymousId: 'a1' }))).toEqual(want2);
  });

  it('from is inclusive and to is exclusive, on the corrected timestamp', async () => {
    const times = [...new Set(ts.values())].sort((a, b) => a - b);
    expect(times.length).toBeGreaterThan(10);
    const cases: Array<[number | undefined, number | undefined]> = [
      [times[3], times[times.length - 4]],
      [times[0], undefined],
      [undefined, times[5]],
      [times[7], times[7]], // empty: [t, t)
      [times[7], times[8]], // exactly the events at times[7]
      [times[times.length - 1], undefined],
    ];
    for (const [from, to] of cases) {
      const q: Record<string, string> = {};
      if (from !== undefined) q.from = new Date(from).toISOString();
      if (to !== undefined) q.to = new Date(to).toISOString();
      const want = expected((e) => (from === undefined || ts.get(e.messageId)! >= from) && (to === undefined || ts.get(e.messageId)! < to));
      expect(ids(await readAll(s.url, s.secretKey, q, 9)), JSON.stringify(q)).toEqual(want);
    }
    // The window of the slow-clock batch: its events were corrected forward by 10 minutes, so a window
    // on original timestamps 10 minutes ago finds nothing of it.
    const tenMinAgo = Date.now() - 600_000;
    const old = await getEvents(s.url, s.secretKey, { from: new Date(tenMinAgo - 60_000).toISOString(), to: new Date(tenMinAgo + 60_000).toISOString() });
    expect(old.body.events).toEqual([]);
  });

  it('from/to accept offsets: the same instant written in another zone selects the same events', async () => {
    const times = [...new Set(ts.values())].sort((a, b) => a - b);
    const from = times[4];
    const inUtc = new Date(from).toISOString();
    const local = new Date(from + 2 * 3_600_000).toISOString().replace('Z', '+02:00');
    expect(Date.parse(local)).toBe(from);
    const a = await readAll(s.url, s.secretKey, { from: inUtc });
    const b = await readAll(s.url, s.secretKey, { from: local });
    expect(ids(b)).toEqual(ids(a));
  });

  it('paginates a filter, and events arriving meanwhile neither shift nor repeat later pages', async () => {
    const first = await getEvents(s.url, s.secretKey, { limit: 10, type: 'track' });
    const trackWant = expected((e) => e.type === 'track');
    expect(ids(first.body.events)).toEqual(trackWant.slice(0, 10));
    // New, newer events of the same filter while the client pages.
    const fresh = Array.from({ length: 15 }, (_, i) => makeEvent({ messageId: `fresh-${i}` }));
    expect((await postEvents(s.url, s.writeKey, { batch: fresh, sentAt: new Date().toISOString() })).body.processed).toBe(15);
    await waitStored(s.url);
    const rest: string[] = [];
    let cursor = first.body.nextCursor;
    while (cursor) {
      const p = await getEvents(s.url, s.secretKey, { limit: 10, type: 'track', cursor });
      rest.push(...ids(p.body.events));
      cursor = p.body.nextCursor;
    }
    expect([...ids(first.body.events), ...rest]).toEqual(trackWant);
    // The fresh events are newest and come first in a new read.
    const top = await getEvents(s.url, s.secretKey, { limit: 15, type: 'track' });
    expect(new Set(ids(top.body.events))).toEqual(new Set(fresh.map((e) => e.messageId)));
  });

  describe('project isolation', () => {
    it('never returns events of another project, with or without filters', async () => {
      const mine = new Set(sent.map((e) => e.messageId));
      const theirs = await readAll(s.url, other.secretKey);
      expect(theirs).toHaveLength(otherSent.length);
      expect(new Set(ids(theirs))).toEqual(new Set(otherSent.map((e) => e.messageId)));
      for (const e of theirs) expect(e.properties?.tag ?? 'q').toBe('q');
      // Overlapping messageIds are stored per project: each read sees its own copy only.
      const shared = otherSent.find((e) => mine.has(e.messageId))!;
      expect(shared).toBeDefined();
      const mineCopy = (await getEvents(s.url, s.secretKey, { messageId: shared.messageId })).body.events;
      const theirCopy = (await getEvents(s.url, other.secretKey, { messageId: shared.messageId })).body.events;
      expect(mineCopy).toHaveLength(1);
      expect(theirCopy).toHaveLength(1);
      expect(theirCopy[0].type).toBe(shared.type);
      expect(theirCopy[0].originalTimestamp).toBe(shared.timestamp);
      // Filters that match events of both projects.
      for (const userId of USERS) {
        const got = await readAll(s.url, other.secretKey, { userId });
        expect(ids(got).sort()).toEqual(otherSent.filter((e) => e.userId === userId).map((e) => e.messageId).sort());
      }
    });

    it('a cursor from one project does not reach into another', async () => {
      const page = await getEvents(s.url, s.secretKey, { limit: 5 });
      const theirs = await readAll(s.url, other.secretKey, { cursor: page.body.nextCursor });
      for (const e of theirs) expect(otherSent.some((o) => o.messageId === e.messageId)).toBe(true);
    });
  });

  describe('parameter checks: 400 SOL_ERR_QUERY_INVALID_PARAM', () => {
    it.each([
      ['limit=1001', 'limit'],
      ['limit=0', 'limit'],
      ['limit=-1', 'limit'],
      ['limit=abc', 'limit'],
      ['limit=1.5', 'limit'],
      ['limit=', 'limit'],
      ['type=screenview', 'type'], // (screen is a type since the /v1 routes: test/integration/v1-*.test.ts)
      ['from=yesterday', 'from'],
      ['to=2025-01-15', 'to'],
      ['from=2025-01-15T10:30:00', 'from'],
      ['from=2016-12-31T23:59:60Z', 'from'], // a leap second: RFC 3339, but no Date holds it (was: silently matched nothing)
      ['to=2016-12-31T23:59:60Z', 'to'],
      ['userId=', 'userId'],
      ['foo=1', 'foo'],
      ['userid=u1', 'userid'],
      ['offset=10', 'offset'],
      ['cursor=garbage!!', 'cursor'],
      ['cursor=', 'cursor'],
      [`cursor=${Buffer.from('{"t":1,"s":2}').toString('base64url')}`, 'cursor'],
      [`cursor=${Buffer.from('[1]').toString('base64url')}`, 'cursor'],
      [`cursor=${Buffer.from('[1.5,2]').toString('base64url')}`, 'cursor'],
      [`cursor=${Buffer.from('["1","2"]').toString('base64url')}`, 'cursor'],
      [`cursor=${'A'.repeat(201)}`, 'cursor'],
    ])('%s', async (qs, name) => {
      const r = await getEventsRaw(s.url, s.secretKey, qs);
      expectError(r, 400, 'SOL_ERR_QUERY_INVALID_PARAM');
      expect(r.body.message).toContain(name);
    });

    it('a parameter given twice is refused', async () => {
      expectError(await getEventsRaw(s.url, s.secretKey, 'type=track&type=page'), 400, 'SOL_ERR_QUERY_INVALID_PARAM');
    });
  });
});
