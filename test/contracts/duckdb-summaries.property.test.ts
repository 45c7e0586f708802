// The summaries the embedded store keeps (src/store/duckdb/duckdb.summaries.ts) against full scans, on
// random data stored through the store's own write paths: batches in arrival order (or later ones first) with late events
// (timestamps out of seq order, some hours before their neighbours), a batch committed twice, the same
// message id again in a replay, dead letters replayed later (old seqs, arriving after newer events),
// identify and alias lines that merge profiles. Every summarised answer (counts per day and hour in UTC
// and in a zone with DST, with and without event/type filters, over ranges that start and end inside
// hours; top events; retention; a profile's count, first and last time and recent events; a user's
// latest events) must equal the scan's, and summaries rebuilt from scratch (what the upgrade to
// schema v5 does) must equal the ones kept batch by batch.
import fc from 'fast-check';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { LogLine } from '../../src/contracts/log-line.js';
import type { ProcessedLine, StoreBatch } from '../../src/contracts/event-store.js';
import type { StatsStore } from '../../src/contracts/stats-store.js';
import { BATCH_STEPS } from '../../src/process/pipeline.js';
import { offsetSpans } from '../../src/query/time-zone.js';
import { DuckDbStore } from '../../src/store/duckdb/duckdb.store.js';
import { buildSummaries } from '../../src/store/duckdb/duckdb.summaries.js';
import { duckDbStats } from '../../src/store/duckdb/stats.queries.js';
import { tempDir } from '../helpers/solute.js';

const HOUR = 3_600_000;
const DAY = 86_400_000;
// Around New York's spring-forward change (2025-03-09 07:00Z), so zone buckets cross it.
const T0 = Date.parse('2025-03-06T00:00:00Z');
const SPAN = 6 * DAY;
const NAMES = ['Signed Up', 'Clicked', 'Bought'];
const USERS = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6', 'u7'];
// 'u7' is also a userId: its anonymous events share the user's stats key, and GET /api/events?userId=u7 must leave them out.
const ANONS = ['a1', 'a2', 'a3', 'a4', 'u7'];

interface Spec {
  kind: 'track' | 'page' | 'identify' | 'alias';
  name: number;
  user: number | null;
  anon: number | null;
  /** Hours after T0, and a few late ones pulled back by up to 7 hours. */
  at: number;
  late: number;
  /** 0: stored in order; 1: first a dead letter, replayed at the end; 2: also resent in a replay (a duplicate). */
  fate: number;
}

const spec = fc.record({
  kind: fc.constantFrom('track', 'track', 'track', 'page', 'identify', 'alias'),
  name: fc.nat(NAMES.length - 1),
  user: fc.option(fc.nat(USERS.length - 1), { freq: 3 }),
  anon: fc.option(fc.nat(ANONS.length - 1), { freq: 2 }),
  at: fc.integer({ min: 0, max: SPAN - 1 }),
  late: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 7 * HOUR }) }),
  fate: fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.constant(2) }),
}) as fc.Arbitrary<Spec>;

const range = fc
  .tuple(fc.integer({ min: -DAY, max: SPAN }), fc.integer({ min: 1, max: SPAN + DAY }))
  .map(([a, len]) => ({ from: T0 + a, to: T0 + a + len }));

function lineOf(s: Spec, i: number, seq: number, run: number): LogLine {
  const t = Math.max(0, T0 + s.at - s.late);
  const y = s.kind;
  let u = s.user === null ? null : USERS[s.user];
  let a = s.anon === null ? null : ANONS[s.anon];
  if (u === null && a === null) a = ANONS[i % ANONS.length];
  if (y === 'alias' && u === null) u = USERS[i % USERS.length];
  const n = y === 'track' ? NAMES[s.name] : null;
  const m = `r${run}-m${i}`;
  const e: Record<string, unknown> = { type: y, messageId: m, timestamp: new Date(t).toISOString() };
  if (n !== null) e.event = n;
  if (u !== null) e.userId = u;
  if (a !== null) e.anonymousId = a;
  if (y === 'alias') e.previousId = a ?? ANONS[0];
  if (y === 'identify') e.traits = { plan: i % 2 === 0 ? 'pro' : 'free' };
  return { p: 'p', s: seq, t, y, n, u, a, m, i: null, e };
}

async function rows(store: DuckDbStore, sql: string): Promise<unknown[][]> {
  return (await store.queryConnection().runAndReadAll(sql)).getRowsJS().map((r) => r.map((v) => (typeof v === 'bigint' ? Number(v) : v)));
}

const byKey = <T extends { key: number }>(xs: T[]) => [...xs].sort((a, b) => a.key - b.key);

describe('DuckDB summaries against full scans', () => {
  it('answer every summarised query as the scan does, on random data with late events, duplicates, replays and merges', async () => {
    const dir = tempDir('solute-summaries-');
    const store = await DuckDbStore.open(path.join(dir, 'store.duckdb'), { memoryLimit: '256MB', threads: 1 });
    const fast = await duckDbStats(store.queryConnection());
    const scan = await duckDbStats(store.queryConnection(), { scanOnly: true });
    let run = 0;
    let seq = 0;
    let segment = 0;
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(spec, { minLength: 20, maxLength: 160 }),
          fc.integer({ min: 1, max: 40 }),
          fc.array(range, { minLength: 3, maxLength: 3 }),
          fc.boolean(),
          async (specs, batchSize, ranges, backwards) => {
            run++;
            await store.queryConnection().run("DELETE FROM events; DELETE FROM dead_letters; DELETE FROM identities; DELETE FROM profiles; DELETE FROM stat_users; DELETE FROM stat_user_events; DELETE FROM stat_counts; DELETE FROM stat_bits");
            // Arrival order: seqs ascend through the batches; timestamps do not (late events).
            const lines = specs.map((s, i) => lineOf(s, i, ++seq, run));
            const later: LogLine[] = [];
            const batches: StoreBatch[] = [];
            for (let b = 0; b < lines.length; b += batchSize) {
              const chunk = lines.slice(b, b + batchSize);
              const kept = chunk.filter((_, j) => specs[b + j].fate === 0 || specs[b + j].fate === 2);
              const dead = chunk.filter((_, j) => specs[b + j].fate === 1);
              later.push(...dead, ...chunk.filter((_, j) => specs[b + j].fate === 2));
              const batch = {
                segment: ++segment,
                lines: kept.map((l, index): ProcessedLine => ({ index, raw: JSON.stringify(l), line: l })),
                deadLetters: dead.map((l, index) => ({ segment, index: kept.length + index, project: 'p', step: 'enrich', reason: 'test', raw: JSON.stringify(l) })),
              };
              batches.push(batch);
            }
            // In log order, or (what the store's port allows) later segments first.
            if (backwards) batches.reverse();
            for (const [i, batch] of batches.entries()) {
              await store.commitBatch(batch, BATCH_STEPS);
              if (i === 0) await store.commitBatch(batch, BATCH_STEPS); // the same batch again: a no-op
            }
            // Dead letters replayed after newer events (their old seqs), duplicates of stored events among them.
            const letters = await store.deadLetters({ limit: 1000, project: 'p' });
            const idOf = new Map(letters.map((d) => [d.raw, d.id]));
            const replay = later.map((l, index) => ({ index, raw: JSON.stringify(l), line: l, deadLetterId: idOf.get(JSON.stringify(l)) ?? 1_000_000 + index }));
            if (replay.length > 0) await store.commitReplay(replay, [], BATCH_STEPS);
            expect((await store.deadLetters({ limit: 1000, project: 'p' })).filter((d) => d.step === 'enrich')).toEqual([]);

            for (const { from, to } of ranges) {
              for (const tz of ['UTC', 'America/New_York']) {
                for (const interval of ['day', 'hour'] as const) {
                  if (interval === 'hour' && to - from > 31 * DAY) continue;
                  for (const filter of [{}, { event: 'Clicked' }, { type: 'page' }, { type: 'track', event: 'Bought' }]) {
                    const q = { from, to, interval, spans: offsetSpans(tz, from, to), ...filter };
                    const [got, want] = [await fast.countEvents('p', q), await scan.countEvents('p', q)];
                    expect({ buckets: byKey(got.buckets), total: got.total }).toEqual({ buckets: byKey(want.buckets), total: want.total });
                  }
                }
              }
              const top = { from, to, limit: 2 };
              expect(await fast.topEvents('p', top)).toEqual(await scan.topEvents('p', top));
              for (const period of ['day', 'week'] as const) {
                const r = { from, to, end: to + 3 * DAY, period, periods: 3, spans: offsetSpans('America/New_York', from, to + 3 * DAY), startEvent: 'Signed Up', returnEvent: 'Clicked' };
                expect(byKey(await fast.retention('p', r))).toEqual(byKey(await scan.retention('p', r)));
              }
            }

            // Reads by user: a profile (its ids merged by identify and alias) and a user's latest events.
            for (const id of [...USERS, ...ANONS]) {
              const profile = await store.profile('p', id, 5);
              const ids = profile?.ids ?? [id];
              const list = ids.map((x) => `'${x}'`).join(', ');
              const [[count, first, last]] = await rows(store, `SELECT count(*), min(ts), max(ts) FROM events WHERE project = 'p' AND coalesce(user_id, anonymous_id) IN (${list})`);
              if (profile === null) {
                expect(count).toBe(0);
                continue;
              }
              expect([profile.eventCount, profile.firstSeen, profile.lastSeen]).toEqual([count, first, last]);
              const recent = await rows(store, `SELECT message_id FROM events WHERE project = 'p' AND coalesce(user_id, anonymous_id) IN (${list}) ORDER BY ts DESC, seq DESC LIMIT 5`);
              expect(profile.recentEvents.map((e) => e.messageId)).toEqual(recent.map((r) => r[0]));
              const page = await store.queryEvents('p', { userId: id, limit: 3 });
              const want = await rows(store, `SELECT message_id FROM events WHERE project = 'p' AND user_id = '${id}' ORDER BY ts DESC, seq DESC LIMIT 3`);
              expect(page.events.map((e) => e.messageId)).toEqual(want.map((r) => r[0]));
            }

            // Rebuilt from the events alone (the upgrade's migration) = kept batch by batch; ordinals may differ, the sets may not.
            const kept = await rows(store, 'SELECT project, lvl, ts, type, event, n FROM stat_counts ORDER BY ALL');
            const users = await rows(store, 'SELECT u.id, b.lvl, b.ts, b.type, b.event FROM stat_bits b JOIN stat_users u ON u.project = b.project AND b.chunk = u.ord // 4096 AND get_bit(b.bits, (u.ord % 4096)::INTEGER) = 1 ORDER BY ALL');
            const totals = await rows(store, 'SELECT id, n, first_ts, last_ts FROM stat_users ORDER BY ALL');
            await store.queryConnection().run('DELETE FROM stat_users; DELETE FROM stat_user_events; DELETE FROM stat_counts; DELETE FROM stat_bits');
            await buildSummaries(store.queryConnection());
            expect(await rows(store, 'SELECT project, lvl, ts, type, event, n FROM stat_counts ORDER BY ALL')).toEqual(kept);
            expect(await rows(store, 'SELECT u.id, b.lvl, b.ts, b.type, b.event FROM stat_bits b JOIN stat_users u ON u.project = b.project AND b.chunk = u.ord // 4096 AND get_bit(b.bits, (u.ord % 4096)::INTEGER) = 1 ORDER BY ALL')).toEqual(users);
            expect(await rows(store, 'SELECT id, n, first_ts, last_ts FROM stat_users ORDER BY ALL')).toEqual(totals);
          },
        ),
        { numRuns: 15 },
      );
    } finally {
      await store.close();
    }
  }, 240_000);
});
