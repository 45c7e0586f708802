// GET /api/stats/events, /api/stats/top-events and /api/stats/top-pages over real HTTP, on events sent through
// POST /api/events. Every figure is checked against one computed here from the stored events'
// corrected timestamps, bucketed with Intl (its own local dates and offsets, not src/query/time-zone.ts),
// across DST changes in New York and Berlin, per day and per hour.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeEvent, postEvents, startTestServer, type TestServer } from '../helpers/solute.js';
import { createKey, expectError, getJson, readAll, waitStored } from '../helpers/assertions.js';
import { funnelByBruteForce } from '../helpers/funnel-oracle.js';

type Ev = Record<string, any>;

const NAMES = ['Signed Up', 'Button Clicked', 'Checkout', 'Video Played'];
const USERS = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6'];
const ANONS = ['a1', 'a2', 'a3'];
const PATHS = ['/', '/pricing', '/docs', '/blog/ünïcode', '/Docs'];
const HOUR = 3_600_000;
const DAY = 86_400_000;

// Windows around DST changes: New York springs forward 2025-03-09 07:00Z and falls back 2025-11-02
// 06:00Z; Berlin springs forward 2025-03-30 01:00Z and falls back 2025-10-26 01:00Z.
const WINDOWS = [
  [Date.parse('2025-03-07T00:00:00Z'), Date.parse('2025-03-11T00:00:00Z')],
  [Date.parse('2025-03-29T00:00:00Z'), Date.parse('2025-03-31T12:00:00Z')],
  [Date.parse('2025-10-25T00:00:00Z'), Date.parse('2025-10-27T00:00:00Z')],
  [Date.parse('2025-11-01T00:00:00Z'), Date.parse('2025-11-03T12:00:00Z')],
];

function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return (n: number) => {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    return (x >>> 0) % n;
  };
}

function dataset(tag: string, seed: number): Ev[] {
  const r = rng(seed);
  const out: Ev[] = [];
  for (const [a, b] of WINDOWS) {
    for (let i = 0; i < 150; i++) {
      const type = ['track', 'track', 'track', 'page', 'identify'][r(5)];
      const userId = r(3) > 0 ? USERS[r(USERS.length)] : undefined;
      out.push(
        makeEvent({
          type,
          messageId: `${tag}-${out.length}`,
          timestamp: new Date(a + r(Math.floor((b - a) / 1000)) * 1000).toISOString(),
          userId,
          anonymousId: userId === undefined || r(2) === 0 ? ANONS[r(ANONS.length)] : undefined,
          event: type === 'track' ? NAMES[r(NAMES.length)] : undefined,
          properties: type === 'track' ? { plan: ['free', 'pro'][r(2)] } : undefined,
          // Page paths for top pages; some track events carry one too (not a view), and the per-event
          // path's context (with ip/userAgent) alternates with the bulk path's.
          context: { library: { name: 'test' }, page: { path: PATHS[r(PATHS.length)] }, ...(r(4) === 0 ? { ip: '198.51.100.4' } : {}) },
        }),
      );
    }
  }
  // A few right on bucket edges: UTC midnight and the instants clocks change.
  for (const t of ['2025-03-09T07:00:00Z', '2025-03-09T06:59:59.999Z', '2025-11-02T06:00:00Z', '2025-11-02T05:59:59.999Z', '2025-10-26T01:00:00Z', '2025-03-08T00:00:00Z']) {
    out.push(makeEvent({ messageId: `${tag}-${out.length}`, timestamp: t, userId: 'edge' }));
  }
  return out;
}

/** The local wall time of `ms` in `tz` and the zone's offset then, from Intl alone. */
function local(tz: string, ms: number): { date: string; hour: string; minute: string; offset: string } {
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', fractionalSecondDigits: 3, timeZoneName: 'longOffset',
  }).formatToParts(ms);
  const p = Object.fromEntries(parts.map((x) => [x.type, x.value]));
  return { date: `${p.year}-${p.month}-${p.day}`, hour: p.hour, minute: `${p.minute}:${p.second}.${p.fractionalSecond}`, offset: p.timeZoneName };
}

/** Bucket label of an instant: the local date (day), or local date, hour and offset (hour: the repeated hour is two). */
const label = (tz: string, interval: 'day' | 'hour', ms: number) => {
  const l = local(tz, ms);
  return interval === 'day' ? l.date : `${l.date} ${l.hour} ${l.offset}`;
};

const who = (e: Ev) => (e.userId ?? e.anonymousId) as string;

describe('GET /api/stats/*', () => {
  let s: TestServer;
  let other: { writeKey: string; secretKey: string };
  /** Stored events of project "test", with their corrected timestamp in ms. */
  let stored: Array<Ev & { t: number }> = [];
  let writeKey: string;

  const stats = (path: string, qs: Record<string, string | number> | string, key = s.secretKey) => {
    const q = typeof qs === 'string' ? qs : new URLSearchParams(Object.entries(qs).map(([k, v]): [string, string] => [k, String(v)])).toString();
    return getJson(s.url, `/api/stats/${path}?${q}`, { authorization: `Bearer ${key}` });
  };

  beforeAll(async () => {
    s = await startTestServer();
    writeKey = s.writeKey;
    other = { writeKey: createKey(s.dataDir, 'other'), secretKey: createKey(s.dataDir, 'other', 'secret') };
    const mine = dataset('s', 11);
    for (let i = 0; i < mine.length; i += 100) {
      const r = await postEvents(s.url, writeKey, { batch: mine.slice(i, i + 100), sentAt: new Date().toISOString() });
      expect(r.body.processed).toBe(Math.min(100, mine.length - i));
    }
    // Another project's events in the same windows must never be counted.
    const theirs = dataset('o', 5).slice(0, 100);
    expect((await postEvents(s.url, other.writeKey, { batch: theirs, sentAt: new Date().toISOString() })).body.processed).toBe(100);
    await waitStored(s.url);
    const all = await readAll(s.url, s.secretKey);
    expect(all).toHaveLength(mine.length);
    stored = all.map((e) => {
      const t = Date.parse(e.timestamp);
      expect(t).toBe(Date.parse(e.receivedAt) - (Date.parse(e.sentAt) - Date.parse(e.originalTimestamp)));
      return { ...e, t };
    });
  });
  afterAll(() => s.close());

  /** The expected answer, bucketed with Intl: label -> {count, users}. */
  function expected(tz: string, interval: 'day' | 'hour', from: number, to: number, pred: (e: Ev) => boolean = () => true) {
    const m = new Map<string, { count: number; users: Set<string> }>();
    const all = new Set<string>();
    let count = 0;
    for (const e of stored) {
      if (e.t < from || e.t >= to || !pred(e)) continue;
      const k = label(tz, interval, e.t);
      const b = m.get(k) ?? { count: 0, users: new Set<string>() };
      b.count++;
      b.users.add(who(e));
      m.set(k, b);
      all.add(who(e));
      count++;
    }
    return { buckets: m, total: { count, users: all.size } };
  }

  /** Checks an answer's buckets: contiguous, each starting at a local midnight / hour, and their figures. */
  function check(body: any, tz: string, interval: 'day' | 'hour', from: number, to: number, pred?: (e: Ev) => boolean) {
    const want = expected(tz, interval, from, to, pred);
    expect(body.total).toEqual(want.total);
    const starts = body.buckets.map((b: any) => Date.parse(b.start));
    // The first bucket holds `from`, the last holds `to - 1 ms`; labels are distinct and in order.
    expect(starts[0]).toBeLessThanOrEqual(from);
    expect(label(tz, interval, starts[0])).toBe(label(tz, interval, from));
    expect(label(tz, interval, starts.at(-1))).toBe(label(tz, interval, to - 1));
    const labels = starts.map((t: number) => label(tz, interval, t));
    expect(new Set(labels).size).toBe(labels.length);
    for (let i = 0; i < starts.length; i++) {
      const l = local(tz, starts[i]);
      // Each start is the first instant of its bucket: local 00:00 (day) or :00 (hour), and the instant before it is in the previous bucket.
      expect(l.minute).toBe('00:00.000');
      if (interval === 'day') expect(l.hour).toBe('00');
      if (i > 0) expect(label(tz, interval, starts[i] - 1)).toBe(labels[i - 1]);
      // The written offset is the zone's at that instant.
      expect(body.buckets[i].start.slice(23)).toBe(['GMT', 'GMT+00:00'].includes(l.offset) ? 'Z' : l.offset.slice(3));
      const w = want.buckets.get(labels[i]);
      expect({ label: labels[i], count: body.buckets[i].count, users: body.buckets[i].users }).toEqual({ label: labels[i], count: w?.count ?? 0, users: w?.users.size ?? 0 });
    }
    // Every expected bucket is among the answer's.
    for (const k of want.buckets.keys()) expect(labels).toContain(k);
    return labels;
  }

  const iso = (ms: number) => new Date(ms).toISOString();

  it.each([
    ['UTC', 'day'],
    ['America/New_York', 'day'],
    ['Europe/Berlin', 'day'],
    ['Asia/Kolkata', 'day'],
  ] as const)('daily counts in %s over the whole data set', async (tz, interval) => {
    const from = Date.parse('2025-03-01T00:00:00Z');
    const to = Date.parse('2025-11-10T00:00:00Z');
    const r = await stats('events', { from: iso(from), to: iso(to), tz, interval });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ interval, tz, event: null, type: null, from: iso(from), to: iso(to) });
    const labels = check(r.body, tz, interval, from, to);
    // Empty days appear with 0: one bucket per local day.
    expect(labels.length).toBeGreaterThan(250);
    expect(r.body.total.count).toBe(stored.length);
  });

  it('New York by day across spring forward: the 23-hour day is one bucket', async () => {
    const from = Date.parse('2025-03-08T05:00:00Z'); // local midnight, EST
    const to = Date.parse('2025-03-10T04:00:00Z'); // local midnight, EDT
    const r = await stats('events', { from: iso(from), to: iso(to), tz: 'America/New_York' });
    expect(r.body.buckets.map((b: any) => b.start)).toEqual(['2025-03-08T00:00:00.000-05:00', '2025-03-09T00:00:00.000-05:00']);
    check(r.body, 'America/New_York', 'day', from, to);
  });

  it.each([
    // Buckets are real hours: 48 in 48 hours, whether local 02:00 is skipped (spring) or 01:00 repeated (fall).
    ['America/New_York', '2025-03-08T12:00:00Z', '2025-03-10T12:00:00Z', 48],
    ['America/New_York', '2025-11-01T12:00:00Z', '2025-11-03T12:00:00Z', 48],
    ['Europe/Berlin', '2025-03-29T12:00:00Z', '2025-03-31T12:00:00Z', 48],
    ['Europe/Berlin', '2025-10-25T00:00:00Z', '2025-10-27T00:00:00Z', 48],
    ['UTC', '2025-03-07T00:00:00Z', '2025-03-11T00:00:00Z', 96],
    ['Asia/Kolkata', '2025-03-07T00:00:00Z', '2025-03-08T00:00:00Z', 25], // +05:30: hours start at :30 UTC
  ])('hourly counts in %s from %s to %s', async (tz, f, t, n) => {
    const from = Date.parse(f);
    const to = Date.parse(t);
    const r = await stats('events', { from: f, to: t, tz, interval: 'hour' });
    expect(r.status).toBe(200);
    const labels = check(r.body, tz, 'hour', from, to);
    expect(labels).toHaveLength(n);
    // Buckets are real hours (wall clock aside): consecutive starts are 1 h apart.
    const starts = r.body.buckets.map((b: any) => Date.parse(b.start));
    for (let i = 2; i < starts.length; i++) expect(starts[i] - starts[i - 1]).toBe(HOUR);
  });

  it('the repeated hour in New York is two buckets with two offsets', async () => {
    const r = await stats('events', { from: '2025-11-02T04:00:00Z', to: '2025-11-02T08:00:00Z', tz: 'America/New_York', interval: 'hour' });
    expect(r.body.buckets.map((b: any) => b.start)).toEqual([
      '2025-11-02T00:00:00.000-04:00',
      '2025-11-02T01:00:00.000-04:00',
      '2025-11-02T01:00:00.000-05:00',
      '2025-11-02T02:00:00.000-05:00',
    ]);
  });

  it('a range that starts and ends inside buckets counts only [from, to)', async () => {
    const times = stored.map((e) => e.t).sort((a, b) => a - b);
    const from = times[40];
    const to = times[400];
    for (const interval of ['day', 'hour'] as const) {
      for (const tz of ['UTC', 'Europe/Berlin']) {
        if (interval === 'hour' && to - from > 31 * DAY) continue;
        const r = await stats('events', { from: iso(from), to: iso(to), tz, interval });
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        check(r.body, tz, interval, from, to);
      }
    }
  });

  it('filters by event name and by type, alone and together', async () => {
    const from = Date.parse('2025-03-01T00:00:00Z');
    const to = Date.parse('2025-11-10T00:00:00Z');
    for (const name of NAMES) {
      const r = await stats('events', { from: iso(from), to: iso(to), event: name, tz: 'Europe/Berlin' });
      expect(r.body.event).toBe(name);
      check(r.body, 'Europe/Berlin', 'day', from, to, (e) => e.event === name);
      expect(r.body.total.count).toBeGreaterThan(0);
    }
    for (const type of ['track', 'page', 'identify', 'group'] as const) {
      const r = await stats('events', { from: iso(from), to: iso(to), type });
      check(r.body, 'UTC', 'day', from, to, (e) => e.type === type);
    }
    const r = await stats('events', { from: iso(from), to: iso(to), type: 'page', event: NAMES[0] });
    expect(r.body.total).toEqual({ count: 0, users: 0 });
    const none = await stats('events', { from: iso(from), to: iso(to), event: 'No Such Event' });
    expect(none.body.total).toEqual({ count: 0, users: 0 });
    expect(none.body.buckets.every((b: any) => b.count === 0 && b.users === 0)).toBe(true);
  });

  it('top events: names by count, ties by name, with distinct users; limit', async () => {
    const from = Date.parse('2025-03-01T00:00:00Z');
    const to = Date.parse('2025-10-26T00:00:00Z');
    const counts = new Map<string, { count: number; users: Set<string> }>();
    for (const e of stored) {
      if (e.t < from || e.t >= to || e.event === undefined) continue;
      const c = counts.get(e.event) ?? { count: 0, users: new Set() };
      c.count++;
      c.users.add(who(e));
      counts.set(e.event, c);
    }
    const want = [...counts].map(([event, c]) => ({ event, count: c.count, users: c.users.size })).sort((a, b) => b.count - a.count || (a.event < b.event ? -1 : 1));
    const r = await stats('top-events', { from: iso(from), to: iso(to) });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ from: iso(from), to: iso(to), events: want });
    const two = await stats('top-events', { from: iso(from), to: iso(to), limit: 2 });
    expect(two.body.events).toEqual(want.slice(0, 2));
    const empty = await stats('top-events', { from: '2024-01-01T00:00:00Z', to: '2024-02-01T00:00:00Z' });
    expect(empty.body.events).toEqual([]);
  });

  it('top pages: context.page.path of page events by views, ties by path, with distinct users; limit', async () => {
    const from = Date.parse('2025-03-01T00:00:00Z');
    const to = Date.parse('2025-10-26T00:00:00Z');
    const views = new Map<string, { count: number; users: Set<string> }>();
    for (const e of stored) {
      if (e.t < from || e.t >= to || e.type !== 'page') continue;
      const path = (e.context as { page: { path: string } }).page.path;
      const v = views.get(path) ?? { count: 0, users: new Set() };
      v.count++;
      v.users.add(who(e));
      views.set(path, v);
    }
    const want = [...views]
      .map(([path, v]) => ({ path, count: v.count, users: v.users.size }))
      .sort((a, b) => b.count - a.count || Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
    expect(want.length).toBe(PATHS.length);
    const r = await stats('top-pages', { from: iso(from), to: iso(to) });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ from: iso(from), to: iso(to), pages: want });
    expect((await stats('top-pages', { from: iso(from), to: iso(to), limit: 2 })).body.pages).toEqual(want.slice(0, 2));
    expect((await stats('top-pages', { from: '2024-01-01T00:00:00Z', to: '2024-02-01T00:00:00Z' })).body.pages).toEqual([]);
    expect((await stats('top-pages', { from: iso(from), to: iso(to) }, other.secretKey)).body.pages.reduce((n: number, p: { count: number }) => n + p.count, 0)).toBeLessThan(
      want.reduce((n, p) => n + p.count, 0),
    );
  });

  it('funnel: users through the steps in order within the window, with conversions; a property filter', async () => {
    const from = Date.parse('2025-03-01T00:00:00Z');
    const to = Date.parse('2025-11-05T00:00:00Z');
    type Step = { event: string; where?: { property: string; equals: string } };
    /** The route's definition, by brute force (test/helpers/funnel-oracle.ts). */
    const want = (steps: Step[], windowMs: number) => {
      const hit = (e: Ev & { t: number }, k: number) => e.event === steps[k].event && (steps[k].where === undefined || (e.properties as Record<string, unknown>)?.[steps[k].where!.property] === steps[k].where!.equals);
      const byUser = new Map<string, Array<Ev & { t: number }>>();
      for (const e of stored) byUser.set(who(e), [...(byUser.get(who(e)) ?? []), e]);
      return funnelByBruteForce(byUser.values(), { steps: steps.length, matches: hit, time: (e) => e.t, from, to, windowMs });
    };
    const cases: Array<[Step[], number]> = [
      [[{ event: 'Signed Up' }, { event: 'Checkout' }], 6 * HOUR],
      [[{ event: 'Signed Up' }, { event: 'Button Clicked' }, { event: 'Checkout' }], DAY],
      [[{ event: 'Button Clicked', where: { property: 'plan', equals: 'pro' } }, { event: 'Checkout', where: { property: 'plan', equals: 'free' } }], 2 * DAY],
    ];
    for (const [steps, windowMs] of cases) {
      const r = await stats('funnel', { steps: JSON.stringify(steps), from: iso(from), to: iso(to), windowSeconds: windowMs / 1000 });
      expect(r.status).toBe(200);
      const users = want(steps, windowMs);
      expect(users[1]).toBeGreaterThan(0);
      expect(r.body).toEqual({
        from: iso(from),
        to: iso(to),
        windowSeconds: windowMs / 1000,
        steps: steps.map((st, i) => ({ event: st.event, where: st.where ?? null, users: users[i], conversion: i === 0 ? null : users[i] / users[i - 1] })),
      });
    }
    // The default window is 14 days; another project's events never count.
    const two = JSON.stringify([{ event: 'Signed Up' }, { event: 'Checkout' }]);
    const d = await stats('funnel', { steps: two, from: iso(from), to: iso(to) });
    expect(d.body.windowSeconds).toBe(14 * 86_400);
    expect(d.body.steps.map((x: { users: number }) => x.users)).toEqual(want([{ event: 'Signed Up' }, { event: 'Checkout' }], 14 * DAY));
    const theirs = await stats('funnel', { steps: two, from: iso(from), to: iso(to) }, other.secretKey);
    expect(theirs.body.steps[0].users).toBeLessThan(d.body.steps[0].users);
  });

  it.each([
    ['not json', '`steps` must be a JSON array'],
    ['[{"event":"A"}]', '2 to 5 steps'],
    ['[{"event":"A"},{"event":"B"},{"event":"C"},{"event":"D"},{"event":"E"},{"event":"F"}]', '2 to 5 steps'],
    ['[{"event":"A"},"B"]', 'step 2 must be an object'],
    ['[{"event":"A"},{"event":""}]', 'step 2: "event"'],
    ['[{"event":"A"},{"event":"B","id":1}]', 'unknown key "id"'],
    ['[{"event":"A","where":{"property":"plan"}},{"event":"B"}]', '"where.equals"'],
    ['[{"event":"A","where":{"property":"","equals":1}},{"event":"B"}]', '"where.property"'],
    ['[{"event":"A","where":{"property":"p","equals":{"x":1}}},{"event":"B"}]', '"where.equals"'],
    ['[{"event":"A","where":{"property":"p","equals":1,"op":"gt"}},{"event":"B"}]', 'unknown key "op"'],
  ])('funnel: steps=%s is a 400 naming the problem', async (steps, text) => {
    const r = await stats('funnel', { steps, from: '2025-03-01T00:00:00Z', to: '2025-03-05T00:00:00Z' });
    expectError(r, 400, 'SOL_ERR_QUERY_INVALID_PARAM');
    expect(r.body.message).toContain(text);
  });

  it.each([
    ['windowSeconds=0', 'windowSeconds'],
    [`windowSeconds=${90 * 86_400 + 1}`, 'windowSeconds'],
    ['windowSeconds=1.5', 'windowSeconds'],
    ['limit=3', 'limit'],
  ])('funnel: %s is a 400', async (extra, text) => {
    const steps = encodeURIComponent('[{"event":"A"},{"event":"B"}]');
    const r = await stats('funnel', `steps=${steps}&from=2025-03-01T00:00:00Z&to=2025-03-05T00:00:00Z&${extra}`);
    expectError(r, 400, 'SOL_ERR_QUERY_INVALID_PARAM');
    expect(r.body.message).toContain(text);
  });

  it.each([
    ['America/New_York', 'day', '2025-03-07T05:00:00Z', '2025-03-11T04:00:00Z', 'Signed Up', 'Button Clicked', 3],
    ['Europe/Berlin', 'day', '2025-10-24T22:00:00Z', '2025-10-27T12:00:00Z', 'Checkout', undefined, 2],
    ['UTC', 'week', '2025-03-01T00:00:00Z', '2025-11-05T00:00:00Z', 'Button Clicked', 'Checkout', 4],
  ] as const)('retention in %s by %s: cohorts, returns per period, rates', async (tz, period, fromIso, toIso, startEvent, returnEvent, periods) => {
    const from = Date.parse(fromIso);
    const to = Date.parse(toIso);
    const dayNum = (t: number) => Date.parse(`${local(tz, t).date}T00:00:00Z`) / DAY;
    const key = (t: number) => (period === 'day' ? dayNum(t) : Math.floor((dayNum(t) + 3) / 7));
    const back = returnEvent ?? startEvent;
    const cohorts = new Map<number, Set<string>>();
    const returns = new Map<number, Set<string>>();
    for (const e of stored) {
      if (e.t < from) continue;
      if (e.event === startEvent && e.t < to) cohorts.set(key(e.t), (cohorts.get(key(e.t)) ?? new Set()).add(who(e)));
      if (e.event === back) returns.set(key(e.t), (returns.get(key(e.t)) ?? new Set()).add(who(e)));
    }
    const r = await stats('retention', { startEvent, ...(returnEvent ? { returnEvent } : {}), from: fromIso, to: toIso, period, periods, tz });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ startEvent, returnEvent: back, period, periods, tz, from: iso(from), to: iso(to) });
    // One cohort per local period overlapping [from, to), in order, each starting at its first instant.
    const keys = r.body.cohorts.map((c: { start: string }) => key(Date.parse(c.start)));
    const firstKey = key(from);
    const lastKey = key(to - 1);
    expect(keys).toEqual(Array.from({ length: lastKey - firstKey + 1 }, (_, i) => firstKey + i));
    let anyBack = false;
    for (const c of r.body.cohorts as Array<{ start: string; users: number; returned: number[]; retention: Array<number | null> }>) {
      const t = Date.parse(c.start);
      expect(local(tz, t).minute).toBe('00:00.000');
      if (period === 'week') expect(new Date(Date.parse(`${local(tz, t).date}T00:00:00Z`)).getUTCDay()).toBe(1); // Monday
      const us = cohorts.get(key(t)) ?? new Set<string>();
      const want = Array.from({ length: periods }, (_, i) => [...us].filter((u) => returns.get(key(t) + i + 1)?.has(u)).length);
      expect({ start: c.start, users: c.users, returned: c.returned }).toEqual({ start: c.start, users: us.size, returned: want });
      expect(c.retention).toEqual(want.map((n) => (us.size === 0 ? null : n / us.size)));
      anyBack ||= want.some((n) => n > 0);
    }
    expect(anyBack).toBe(true);
  });

  it.each([
    ['from=2025-03-01T00:00:00Z&to=2025-03-05T00:00:00Z', 'startEvent'],
    ['startEvent=A&from=2025-03-01T00:00:00Z&to=2025-03-05T00:00:00Z&period=month', 'period'],
    ['startEvent=A&from=2025-03-01T00:00:00Z&to=2025-03-05T00:00:00Z&periods=0', 'periods'],
    ['startEvent=A&from=2025-03-01T00:00:00Z&to=2025-03-05T00:00:00Z&periods=53', 'periods'],
    ['startEvent=A&from=2025-03-01T00:00:00Z&to=2025-03-05T00:00:00Z&tz=Mars/Base', 'tz'],
    ['startEvent=&from=2025-03-01T00:00:00Z&to=2025-03-05T00:00:00Z', 'startEvent'],
    ['startEvent=A&from=2024-01-01T00:00:00Z&to=2025-01-02T00:00:01Z', '366 days'],
    ['startEvent=A&from=2025-03-05T00:00:00Z&to=2025-03-01T00:00:00Z', '`from` must be before `to`'],
  ])('retention: %s is a 400 naming the problem', async (qs, text) => {
    const r = await stats('retention', qs);
    expectError(r, 400, 'SOL_ERR_QUERY_INVALID_PARAM');
    expect(r.body.message).toContain(text);
  });

  it('counts with a property filter, and broken down by a property: top values, then the rest', async () => {
    const from = Date.parse('2025-03-01T00:00:00Z');
    const to = Date.parse('2025-11-05T00:00:00Z');
    const plan = (e: Ev) => (e.properties as Record<string, unknown> | undefined)?.plan;
    const pro = await stats('events', { from: iso(from), to: iso(to), tz: 'Europe/Berlin', where: JSON.stringify({ property: 'plan', equals: 'pro' }) });
    expect(pro.status).toBe(200);
    expect(pro.body.where).toEqual([{ property: 'plan', equals: 'pro' }]);
    check(pro.body, 'Europe/Berlin', 'day', from, to, (e) => plan(e) === 'pro');
    expect(pro.body.total.count).toBeGreaterThan(0);

    const r = await stats('events', { from: iso(from), to: iso(to), tz: 'America/New_York', event: 'Checkout', breakdown: 'plan', breakdownLimit: 1 });
    expect(r.status).toBe(200);
    check(r.body, 'America/New_York', 'day', from, to, (e) => e.event === 'Checkout');
    const series = r.body.breakdown.series;
    expect(r.body.breakdown).toMatchObject({ property: 'plan', limit: 1 });
    expect(series).toHaveLength(2);
    const checkout = stored.filter((e) => e.event === 'Checkout' && e.t >= from && e.t < to);
    const n = (v: string) => checkout.filter((e) => plan(e) === v).length;
    const first = n('free') > n('pro') || (n('free') === n('pro')) ? 'free' : 'pro';
    expect(series[0]).toMatchObject({ value: first, other: false });
    expect(series[1]).toMatchObject({ value: null, other: true });
    check(series[0], 'America/New_York', 'day', from, to, (e) => e.event === 'Checkout' && plan(e) === first);
    check(series[1], 'America/New_York', 'day', from, to, (e) => e.event === 'Checkout' && plan(e) !== first);
    expect(series[0].total.count + series[1].total.count).toBe(r.body.total.count);
  });

  it.each([
    ['where=plan', '`where` must be JSON'],
    ['where=%7B%22property%22%3A%22plan%22%7D', '"where.equals"'],
    [`where=${encodeURIComponent(JSON.stringify([]))}`, '1 to 5 filters'],
    [`where=${encodeURIComponent(JSON.stringify([{ property: 'a', equals: 1 }, { property: 'b', equals: [1] }]))}`, 'filter 2: "where.equals"'],
    ['breakdown=', 'breakdown'],
    ['breakdown=plan&breakdownLimit=21', 'breakdownLimit'],
  ])('/api/stats/events?%s is a 400 naming the problem', async (extra, text) => {
    const r = await stats('events', `from=2025-03-01T00:00:00Z&to=2025-03-05T00:00:00Z&${extra}`);
    expectError(r, 400, 'SOL_ERR_QUERY_INVALID_PARAM');
    expect(r.body.message).toContain(text);
  });

  it('another project sees only its own events', async () => {
    const q = { from: '2025-03-01T00:00:00Z', to: '2025-11-10T00:00:00Z' };
    const theirs = await stats('events', q, other.secretKey);
    expect(theirs.body.total.count).toBe(100);
    const mine = await stats('events', q);
    expect(mine.body.total.count).toBe(stored.length);
  });

  describe('parameter checks: 400 SOL_ERR_QUERY_INVALID_PARAM naming the parameter', () => {
    const ok = 'from=2025-03-01T00:00:00Z&to=2025-03-05T00:00:00Z';
    it.each([
      [`${ok}&foo=1`, 'foo'],
      [`${ok}&limit=10`, 'limit'], // top-events' parameter, not this route's
      [`${ok}&interval=week`, 'interval'],
      [`${ok}&interval=HOUR`, 'interval'],
      [`${ok}&interval=`, 'interval'],
      [`${ok}&tz=Mars/Base`, 'tz'],
      [`${ok}&tz=`, 'tz'],
      [`${ok}&type=screenview`, 'type'],
      [`${ok}&event=`, 'event'],
      ['to=2025-03-05T00:00:00Z', 'from'],
      ['from=2025-03-05T00:00:00Z', 'to'],
      ['from=yesterday&to=2025-03-05T00:00:00Z', 'from'],
      ['from=2025-03-01T00:00:00Z&to=2025-03-05', 'to'],
      ['from=2025-03-01T00:00:00&to=2025-03-05T00:00:00Z', 'from'],
      ['from=2016-12-31T23:59:60Z&to=2017-01-05T00:00:00Z', 'from'],
      ['from=2025-03-05T00:00:00Z&to=2025-03-05T00:00:00Z', '`from` must be before `to`'],
      ['from=2025-03-06T00:00:00Z&to=2025-03-05T00:00:00Z', '`from` must be before `to`'],
      ['from=2024-01-01T00:00:00Z&to=2025-01-02T00:00:01Z', '366 days'],
      ['from=2025-01-01T00:00:00Z&to=2025-02-01T00:00:01Z&interval=hour', '31 days'],
      [`${ok}&from=2025-03-02T00:00:00Z`, 'from'], // given twice
    ])('/api/stats/events?%s', async (qs, text) => {
      const r = await stats('events', qs);
      expectError(r, 400, 'SOL_ERR_QUERY_INVALID_PARAM');
      expect(r.body.message).toContain(text);
    });

    it.each([
      [`${ok}&limit=0`, 'limit'],
      [`${ok}&limit=101`, 'limit'],
      [`${ok}&limit=abc`, 'limit'],
      [`${ok}&limit=1.5`, 'limit'],
      [`${ok}&interval=day`, 'interval'],
      [`${ok}&tz=UTC`, 'tz'],
      ['to=2025-03-05T00:00:00Z', 'from'],
      ['from=2025-03-05T00:00:00Z&to=2025-03-01T00:00:00Z', '`from` must be before `to`'],
    ])('/api/stats/top-events?%s', async (qs, text) => {
      for (const route of ['top-events', 'top-pages']) {
        const r = await stats(route, qs);
        expectError(r, 400, 'SOL_ERR_QUERY_INVALID_PARAM');
        expect(r.body.message).toContain(text);
      }
    });

    it('the longest ranges allowed pass: 366 days by day, 31 days by hour', async () => {
      expect((await stats('events', 'from=2024-01-01T00:00:00Z&to=2025-01-01T00:00:00Z')).status).toBe(200);
      const h = await stats('events', 'from=2025-01-01T00:00:00Z&to=2025-02-01T00:00:00Z&interval=hour');
      expect(h.status).toBe(200);
      expect(h.body.buckets).toHaveLength(31 * 24);
    });
  });

  describe('keys', () => {
    it.each(['events', 'top-events', 'top-pages', 'funnel', 'retention'])('/api/stats/%s: 401 without a key or with an unknown one, 403 with a write key', async (path) => {
      const q = '?from=2025-03-01T00:00:00Z&to=2025-03-05T00:00:00Z';
      expectError(await getJson(s.url, `/api/stats/${path}${q}`), 401, 'SOL_ERR_AUTH_MISSING_BEARER');
      expectError(await getJson(s.url, `/api/stats/${path}${q}`, { authorization: 'Bearer sk_nope' }), 401, 'SOL_ERR_AUTH_INVALID_KEY');
      expectError(await getJson(s.url, `/api/stats/${path}${q}`, { authorization: `Bearer ${writeKey}` }), 403, 'SOL_ERR_AUTH_WRONG_KEY_KIND');
      // The key is checked before the parameters: a bad query without a key is still a 401.
      expectError(await getJson(s.url, `/api/stats/${path}?foo=1`), 401, 'SOL_ERR_AUTH_MISSING_BEARER');
    });
  });
});
