// The stats port's contract (contracts/stats-store.ts), run unchanged against each store: events
// committed through the store's own commitBatch, answers checked against the contract's formulas
// computed here.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogLine } from '../../src/contracts/log-line.js';
import type { EventStore } from '../../src/contracts/event-store.js';
import type { BucketCount, CountQuery, FunnelQuery, OffsetSpan, RetentionQuery, StatsStore } from '../../src/contracts/stats-store.js';
import { BATCH_STEPS } from '../../src/process/pipeline.js';
import { funnelByBruteForce } from '../helpers/funnel-oracle.js';

export type StatsFactory = () => Promise<{ store: EventStore; stats: StatsStore; close(): Promise<void> }>;

const HOUR = 3_600_000;
const DAY = 86_400_000;
const T0 = Date.UTC(2026, 2, 28); // a DST weekend in Europe

/** context.page.path of the fixture's events: strings (one with NUL, one ranked by byte order), and values that are not paths. */
const PATHS: unknown[] = ['/', '/pricing', '/docs\u0000x', '/Docs', 5, null, { nested: true }, '/pricing'];

/** The contract's top pages, computed here: `page` events whose context.page.path is a string. */
function expectedPages(lines: LogLine[], q: { from: number; to: number; limit: number }) {
  const views = lines.filter((l) => l.p === 'sp' && l.y === 'page' && l.t >= q.from && l.t < q.to);
  const by = new Map<string, LogLine[]>();
  for (const l of views) {
    const path = ((l.e.context as { page: { path: unknown } }).page).path;
    if (typeof path === 'string') by.set(path, [...(by.get(path) ?? []), l]);
  }
  return [...by]
    .map(([path, ls]) => ({ path, count: ls.length, users: new Set(ls.map((l) => l.u ?? l.a).filter((x) => x !== null)).size }))
    .sort((a, b) => b.count - a.count || Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)))
    .slice(0, q.limit);
}

function events(): LogLine[] {
  const out: LogLine[] = [];
  for (let i = 0; i < 240; i++) {
    const t = T0 - DAY + i * 977_777; // about 2.7 days, uneven steps
    const y = i % 7 === 0 ? 'page' : 'track';
    const n = y === 'track' ? ['Signed Up', 'Clicked', 'Viewed\u0000', 'Bought'][i % 4] : null;
    const u = i % 3 === 0 ? null : `u${i % 11}`;
    const a = u === null && i % 2 === 0 ? null : `a${i % 5}`;
    out.push({ p: 'sp', s: i + 1, t, y, n, u, a, m: `sm-${i}`, i: null, e: { type: y, messageId: `sm-${i}`, context: { page: { path: PATHS[i % PATHS.length] } } } });
  }
  out.push({ p: 'other', s: 1000, t: T0, y: 'page', n: null, u: 'x', a: null, m: 'o-1', i: null, e: { context: { page: { path: '/' } } } });
  return out;
}

function keyOf(ts: number, interval: CountQuery['interval'], spans: OffsetSpan[]): number {
  let i = 0;
  while (i + 1 < spans.length && ts >= spans[i + 1].start) i++;
  const off = spans[i].offsetMs;
  const mod = (x: number, u: number) => ((x % u) + u) % u;
  if (interval === 'day') return Math.floor((ts + off) / DAY);
  const start = ts - mod(ts + off, HOUR);
  return i === 0 ? start : Math.max(spans[i].start, start);
}

function expected(lines: LogLine[], q: CountQuery) {
  const sel = lines.filter((l) => l.p === 'sp' && l.t >= q.from && l.t < q.to && (q.event === undefined || l.n === q.event) && (q.type === undefined || l.y === q.type));
  const by = new Map<number, LogLine[]>();
  for (const l of sel) by.set(keyOf(l.t, q.interval, q.spans), [...(by.get(keyOf(l.t, q.interval, q.spans)) ?? []), l]);
  const users = (ls: LogLine[]) => new Set(ls.map((l) => l.u ?? l.a).filter((x) => x !== null)).size;
  const buckets: BucketCount[] = [...by].map(([key, ls]) => ({ key, count: ls.length, users: users(ls) }));
  return { buckets: buckets.sort((a, b) => a.key - b.key), total: { count: sel.length, users: users(sel) } };
}

/** Funnel fixture: 40 users, events A/B/C (and others) at uneven times, a `plan` property of varied JSON types. */
function funnelEvents(): LogLine[] {
  let x = 7;
  const r = (n: number) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
  const plans: unknown[] = ['pro', 'free', 1, true, 'pro', null];
  const out: LogLine[] = [];
  for (let i = 0; i < 900; i++) {
    const n = ['A', 'B', 'C', 'A', 'B', 'Other'][r(6)];
    const u = r(10) === 0 ? null : `fu${r(40)}`;
    const a = u === null ? `fa${r(5)}` : null;
    const t = T0 + r(6 * DAY);
    const props: Record<string, unknown> = r(3) === 0 ? {} : { plan: plans[r(plans.length)] };
    out.push({ p: 'fp', s: 10_000 + i, t, y: 'track', n, u, a, m: `fm-${i}`, i: null, e: { type: 'track', event: n, messageId: `fm-${i}`, properties: props } });
  }
  // Two events of one user at the same instant: B is not "after" A.
  out.push({ p: 'fp', s: 20_000, t: T0 + DAY, y: 'track', n: 'A', u: 'same', a: null, m: 'fs-1', i: null, e: { properties: {} } });
  out.push({ p: 'fp', s: 20_001, t: T0 + DAY, y: 'track', n: 'B', u: 'same', a: null, m: 'fs-2', i: null, e: { properties: {} } });
  return out;
}

/** The contract's funnel, by brute force: each user's best attempt over every start. */
function expectedFunnel(lines: LogLine[], q: FunnelQuery): number[] {
  const matches = (l: LogLine, k: number) => {
    const step = q.steps[k];
    if (l.n !== step.event) return false;
    if (step.where === undefined) return true;
    const v = (l.e.properties as Record<string, unknown> | undefined)?.[step.where.property];
    return typeof v === typeof step.where.equals && v === step.where.equals;
  };
  const byUser = new Map<string, LogLine[]>();
  for (const l of lines) {
    const u = l.u ?? l.a;
    if (l.p !== 'fp' || u === null) continue;
    byUser.set(u, [...(byUser.get(u) ?? []), l]);
  }
  return funnelByBruteForce(byUser.values(), { steps: q.steps.length, matches, time: (l) => l.t, from: q.from, to: q.to, windowMs: q.windowMs });
}

/** The contract's retention, by brute force over the funnel fixture. */
function expectedRetention(lines: LogLine[], q: RetentionQuery) {
  const period = (t: number) => {
    const d = keyOf(t, 'day', q.spans);
    return q.period === 'day' ? d : Math.floor((d + 3) / 7);
  };
  const cohorts = new Map<number, Set<string>>();
  const returns = new Map<number, Set<string>>();
  for (const l of lines) {
    const u = l.u ?? l.a;
    if (l.p !== 'fp' || u === null || l.t < q.from || l.t >= q.end) continue;
    const k = period(l.t);
    if (l.n === q.startEvent && l.t < q.to) cohorts.set(k, (cohorts.get(k) ?? new Set()).add(u));
    if (l.n === q.returnEvent) returns.set(k, (returns.get(k) ?? new Set()).add(u));
  }
  return [...cohorts]
    .map(([key, us]) => ({ key, users: us.size, returned: Array.from({ length: q.periods }, (_, i) => [...us].filter((u) => returns.get(key + i + 1)?.has(u)).length) }))
    .sort((a, b) => a.key - b.key);
}

/** The contract's counts with property filters and a breakdown, over the funnel fixture. */
function expectedBreakdown(lines: LogLine[], q: CountQuery) {
  const prop = (l: LogLine, key: string) => (l.e.properties as Record<string, unknown> | undefined)?.[key];
  const sel = lines.filter((l) => l.p === 'fp' && l.t >= q.from && l.t < q.to && (q.event === undefined || l.n === q.event) && (q.where ?? []).every((f) => prop(l, f.property) === f.equals));
  const figures = (ls: LogLine[]) => {
    const by = new Map<number, LogLine[]>();
    for (const l of ls) by.set(keyOf(l.t, q.interval, q.spans), [...(by.get(keyOf(l.t, q.interval, q.spans)) ?? []), l]);
    const users = (xs: LogLine[]) => new Set(xs.map((l) => l.u ?? l.a).filter((x) => x !== null)).size;
    return { buckets: [...by].map(([key, xs]) => ({ key, count: xs.length, users: users(xs) })).sort((a, b) => a.key - b.key), total: { count: ls.length, users: users(ls) } };
  };
  const tag = (v: unknown) => (typeof v === 'string' ? `s${v}` : typeof v === 'boolean' ? `b${v}` : typeof v === 'number' ? `n${v}` : null);
  const counts = new Map<string, number>();
  for (const l of sel) {
    const t = tag(prop(l, q.breakdown!.property));
    if (t !== null) counts.set(t, (counts.get(t) ?? 0) + 1);
  }
  const top = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, q.breakdown!.limit).map(([t]) => t);
  const series = top.map((t) => ({ value: prop(sel.find((l) => tag(prop(l, q.breakdown!.property)) === t)!, q.breakdown!.property), ...figures(sel.filter((l) => tag(prop(l, q.breakdown!.property)) === t)) }));
  series.push({ value: null, ...figures(sel.filter((l) => !top.includes(tag(prop(l, q.breakdown!.property)) as string))) });
  return { ...figures(sel), series };
}

export function statsStoreContract(name: string, factory: StatsFactory): void {
  describe(`StatsStore contract: ${name}`, () => {
    let s: Awaited<ReturnType<StatsFactory>>;
    const lines = events();
    const funnelLines = funnelEvents();
    beforeAll(async () => {
      s = await factory();
      await s.store.commitBatch({ segment: 1, lines: lines.map((line, index) => ({ index, raw: JSON.stringify(line), line })), deadLetters: [] }, BATCH_STEPS);
      await s.store.commitBatch({ segment: 2, lines: funnelLines.map((line, index) => ({ index, raw: JSON.stringify(line), line })), deadLetters: [] }, BATCH_STEPS);
    });
    afterAll(async () => {
      await s?.close();
    });

    const dst: OffsetSpan[] = [
      { start: T0 - DAY, offsetMs: HOUR },
      { start: Date.UTC(2026, 2, 29, 1), offsetMs: 2 * HOUR },
    ];
    const cases: Array<[string, CountQuery]> = [
      ['days, UTC', { from: T0 - DAY, to: T0 + 3 * DAY, interval: 'day', spans: [{ start: T0 - DAY, offsetMs: 0 }] }],
      ['days across a DST change', { from: T0 - DAY, to: T0 + 3 * DAY, interval: 'day', spans: dst }],
      ['hours across a DST change, one event name', { from: T0, to: T0 + 2 * DAY, interval: 'hour', spans: dst, event: 'Clicked' }],
      ['hours, negative offset, by type', { from: T0 - 12 * HOUR, to: T0 + DAY, interval: 'hour', spans: [{ start: T0 - 12 * HOUR, offsetMs: -5.5 * HOUR }], type: 'page' }],
      ['a NUL in the event name', { from: T0 - DAY, to: T0 + 3 * DAY, interval: 'day', spans: [{ start: T0 - DAY, offsetMs: 0 }], event: 'Viewed\u0000' }],
      ['nothing in range', { from: T0 + 10 * DAY, to: T0 + 11 * DAY, interval: 'day', spans: [{ start: T0 + 10 * DAY, offsetMs: 0 }] }],
    ];
    for (const [label, q] of cases) {
      it(`counts events and distinct users per bucket: ${label}`, async () => {
        const got = await s.stats.countEvents('sp', q);
        const want = expected(lines, q);
        expect({ buckets: got.buckets.sort((a, b) => a.key - b.key), total: got.total }).toEqual(want);
        if (label !== 'nothing in range') expect(want.total.count).toBeGreaterThan(0);
      });
    }

    it('lists named events most frequent first, ties by name', async () => {
      const q = { from: T0 - DAY, to: T0 + 3 * DAY, limit: 3 };
      const named = lines.filter((l) => l.p === 'sp' && l.n !== null && l.t >= q.from && l.t < q.to);
      const names = [...new Set(named.map((l) => l.n!))];
      const want = names
        .map((event) => {
          const ls = named.filter((l) => l.n === event);
          return { event, count: ls.length, users: new Set(ls.map((l) => l.u ?? l.a).filter((x) => x !== null)).size };
        })
        .sort((a, b) => b.count - a.count || (a.event < b.event ? -1 : a.event > b.event ? 1 : 0))
        .slice(0, 3);
      expect(await s.stats.topEvents('sp', q)).toEqual(want);
    });

    const funnels: Array<[string, FunnelQuery]> = [
      ['two steps, a day', { from: T0, to: T0 + 3 * DAY, windowMs: DAY, steps: [{ event: 'A' }, { event: 'B' }] }],
      ['three steps, two days', { from: T0, to: T0 + 4 * DAY, windowMs: 2 * DAY, steps: [{ event: 'A' }, { event: 'B' }, { event: 'C' }] }],
      ['the same event twice', { from: T0, to: T0 + 6 * DAY, windowMs: 3 * DAY, steps: [{ event: 'A' }, { event: 'A' }, { event: 'B' }] }],
      ['five steps, a shorter window', { from: T0, to: T0 + 6 * DAY, windowMs: 20 * HOUR, steps: [{ event: 'A' }, { event: 'B' }, { event: 'A' }, { event: 'C' }, { event: 'B' }] }],
      [
        'property filters of each JSON type',
        { from: T0, to: T0 + 6 * DAY, windowMs: 2 * DAY, steps: [{ event: 'A', where: { property: 'plan', equals: 'pro' } }, { event: 'B', where: { property: 'plan', equals: 1 } }, { event: 'C', where: { property: 'plan', equals: true } }] },
      ],
      ['nobody starts', { from: T0 + 20 * DAY, to: T0 + 21 * DAY, windowMs: DAY, steps: [{ event: 'A' }, { event: 'B' }] }],
      ['an event nobody sent', { from: T0, to: T0 + 6 * DAY, windowMs: DAY, steps: [{ event: 'A' }, { event: 'Nope' }] }],
    ];
    for (const [label, q] of funnels) {
      it(`funnel: users reaching each step, ${label}`, async () => {
        const want = expectedFunnel(funnelLines, q);
        expect(await s.stats.funnel('fp', q)).toEqual(want);
        if (label.startsWith('two') || label.startsWith('three')) expect(want.at(-1)).toBeGreaterThan(0);
      });
    }

    const utc: OffsetSpan[] = [{ start: T0, offsetMs: 0 }];
    const retentions: Array<[string, RetentionQuery]> = [
      ['daily cohorts, UTC', { from: T0, to: T0 + 3 * DAY, end: T0 + 7 * DAY, period: 'day', periods: 3, spans: utc, startEvent: 'A', returnEvent: 'B' }],
      ['daily cohorts across a DST change, the same event', { from: T0, to: T0 + 4 * DAY, end: T0 + 7 * DAY, period: 'day', periods: 2, spans: [{ start: T0, offsetMs: HOUR }, { start: Date.UTC(2026, 2, 29, 1), offsetMs: 2 * HOUR }], startEvent: 'C', returnEvent: 'C' }],
      ['weekly cohorts, a negative offset', { from: T0, to: T0 + 6 * DAY, end: T0 + 6 * DAY, period: 'week', periods: 1, spans: [{ start: T0, offsetMs: -10 * HOUR }], startEvent: 'A', returnEvent: 'C' }],
      ['returns cut short by end', { from: T0, to: T0 + 2 * DAY, end: T0 + 3 * DAY, period: 'day', periods: 4, spans: utc, startEvent: 'B', returnEvent: 'A' }],
    ];
    for (const [label, q] of retentions) {
      it(`retention: cohorts and their returns per period, ${label}`, async () => {
        const want = expectedRetention(funnelLines, q);
        expect((await s.stats.retention('fp', q)).sort((a, b) => a.key - b.key)).toEqual(want);
        expect(want.some((c) => c.returned.some((n) => n > 0))).toBe(true);
      });
    }

    const breakdowns: Array<[string, CountQuery]> = [
      ['by plan, top 2, days across a DST change', { from: T0, to: T0 + 6 * DAY, interval: 'day', spans: dst, breakdown: { property: 'plan', limit: 2 } }],
      ['by plan, every value, one event name, hours', { from: T0, to: T0 + DAY, interval: 'hour', spans: [{ start: T0, offsetMs: 0 }], event: 'A', breakdown: { property: 'plan', limit: 10 } }],
      ['filtered on plan = 1, by plan', { from: T0, to: T0 + 6 * DAY, interval: 'day', spans: [{ start: T0, offsetMs: 0 }], where: [{ property: 'plan', equals: 1 }], breakdown: { property: 'plan', limit: 3 } }],
      ['two filters that exclude each other, by a property nobody has', { from: T0, to: T0 + 6 * DAY, interval: 'day', spans: [{ start: T0, offsetMs: 0 }], where: [{ property: 'plan', equals: 'pro' }, { property: 'plan', equals: true }], breakdown: { property: 'none', limit: 3 } }],
    ];
    for (const [label, q] of breakdowns) {
      it(`counts with property filters and a breakdown: ${label}`, async () => {
        const got = await s.stats.countEvents('fp', q);
        const want = expectedBreakdown(funnelLines, q);
        const sorted = (bs: BucketCount[]) => [...bs].sort((a, b) => a.key - b.key);
        expect({ buckets: sorted(got.buckets), total: got.total }).toEqual({ buckets: want.buckets, total: want.total });
        expect(got.series?.map((x) => ({ ...x, buckets: sorted(x.buckets) }))).toEqual(want.series);
        if (label.startsWith('by plan, top 2')) expect(want.series.map((x) => x.value)).toEqual(['pro', expect.anything(), null]);
      });
    }

    it('counts only events whose properties match a filter, with the same JSON type', async () => {
      const q: CountQuery = { from: T0, to: T0 + 6 * DAY, interval: 'day', spans: [{ start: T0, offsetMs: 0 }] };
      for (const equals of ['pro', 1, true, '1', 'true']) {
        const got = await s.stats.countEvents('fp', { ...q, where: [{ property: 'plan', equals }] });
        const want = funnelLines.filter((l) => l.p === 'fp' && l.t >= q.from && l.t < q.to && (l.e.properties as Record<string, unknown>)?.plan === equals).length;
        expect(got.total.count).toBe(want);
        if (typeof equals !== 'string' || equals === 'pro') expect(want).toBeGreaterThan(0);
      }
    });

    it('lists page views by context.page.path, most viewed first, ties by path; other values and types left out', async () => {
      for (const q of [
        { from: T0 - DAY, to: T0 + 3 * DAY, limit: 10 },
        { from: T0 - DAY, to: T0 + 3 * DAY, limit: 2 },
        { from: T0, to: T0 + DAY, limit: 10 },
        { from: T0 + 10 * DAY, to: T0 + 11 * DAY, limit: 10 },
      ]) {
        const want = expectedPages(lines, q);
        expect(await s.stats.topPages('sp', q)).toEqual(want);
      }
      const all = expectedPages(lines, { from: T0 - DAY, to: T0 + 3 * DAY, limit: 10 });
      expect(all.map((p) => p.path).sort()).toEqual(['/', '/Docs', '/docs\u0000x', '/pricing']);
    });
  });
}
