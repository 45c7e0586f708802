// The stats queries answered from the summaries (duckdb.summaries.ts) instead of a scan of the events:
// the whole UTC hours of a range from stat_counts / stat_bits, its partial hours at either end from
// the events themselves (their users' ordinals from stat_users, by hash), so any [from, to) is exact. Distinct
// users are exact too: the union of the ordinal bitmaps, counted.
//
// A zone's buckets are unions of UTC hours only when its offsets are whole hours; other zones (and
// counts with property filters or a breakdown, which the summaries do not hold) take the scan in
// stats.queries.ts. The usableFor* functions say which.
import type { DuckDBConnection } from '@duckdb/node-api';
import type { BucketCount, CountQuery, CountResult, EventTotal, OffsetSpan, RetentionCohort, RetentionQuery, TopEventsQuery } from '../../contracts/stats-store.js';
import { CHUNK_BITS, HOUR_MS, LEVEL, USER_HASH } from './duckdb.summaries.js';
import { cohortsOf, periodKeySql } from '../retention.sql.js';
import { sqlInt as int } from '../sql.js';

type Params = Record<string, string | number>;

/** [from, to) cut into its whole UTC hours [hoursFrom, hoursTo) and the partial hours at its ends. */
interface Cut {
  hoursFrom: number;
  hoursTo: number;
  edges: Array<[number, number]>;
}

function cut(from: number, to: number): Cut | null {
  const hoursFrom = Math.ceil(from / HOUR_MS) * HOUR_MS;
  const hoursTo = Math.floor(to / HOUR_MS) * HOUR_MS;
  if (hoursFrom >= hoursTo) return null; // under two hours: a scan reads little
  const edges: Array<[number, number]> = [];
  if (from < hoursFrom) edges.push([from, hoursFrom]);
  if (hoursTo < to) edges.push([hoursTo, to]);
  return { hoursFrom, hoursTo, edges };
}

/** Whether every bucket of these spans is a union of whole UTC hours. */
function wholeHourZone(spans: readonly OffsetSpan[]): boolean {
  return spans.every((s, i) => s.offsetMs % HOUR_MS === 0 && (i === 0 || s.start % HOUR_MS === 0));
}

/** What the summaries can answer of a count. */
export function usableForCount(q: CountQuery): boolean {
  return (q.where === undefined || q.where.length === 0) && q.breakdown === undefined && wholeHourZone(q.spans) && cut(q.from, q.to) !== null;
}

/** A selection of events (and the matching summary rows): a level and its equality filters. */
interface Selection {
  lvl: number;
  /** SQL over columns type/event, with parameters, or '' */
  filter: string;
}

/**
 * Rows (cols..., n) counting the selected events of the cut: summary rows for the whole hours, one row
 * per event at the edges. `cols` are SQL over `ts`, `type`, `event`, the same on both tables.
 */
function countRows(c: Cut, s: Selection, cols: string): string {
  const and = s.filter === '' ? '' : ` AND ${s.filter}`;
  const parts = [`SELECT ${cols}, n FROM stat_counts WHERE project = $project AND lvl = ${s.lvl} AND ts >= ${int(c.hoursFrom)} AND ts < ${int(c.hoursTo)}${and}`];
  for (const [a, b] of c.edges) parts.push(`SELECT ${cols}, 1 AS n FROM events WHERE project = $project AND ts >= ${int(a)} AND ts < ${int(b)}${and}`);
  return parts.join('\nUNION ALL\n');
}

/** Rows (cols..., chunk, bits) holding the users of the selected events of the cut, likewise. */
function bitRows(c: Cut, s: Selection, cols: string, colNames: string): string {
  const and = s.filter === '' ? '' : ` AND ${s.filter}`;
  const parts = [`SELECT ${cols}, chunk, bits FROM stat_bits WHERE project = $project AND lvl = ${s.lvl} AND ts >= ${int(c.hoursFrom)} AND ts < ${int(c.hoursTo)}${and}`];
  // The edges' users by their hash (the uhash/ahash columns; a collision of two ids' 64-bit hashes
  // would add one user, as in the scan's distinct count; rows from before the columns hash on the
  // fly), each edge against only the users active around it (a far smaller hash table than all users).
  for (const [a, b] of c.edges) {
    parts.push(`SELECT ${colNames}, ord // ${CHUNK_BITS} AS chunk, bitstring_agg((ord % ${CHUNK_BITS})::INTEGER, 0, ${CHUNK_BITS - 1}) AS bits
      FROM (SELECT ${cols}, ${USER_HASH} AS h FROM events WHERE project = $project AND ts >= ${int(a)} AND ts < ${int(b)}${and}) e
      JOIN (SELECT h, ord FROM stat_users WHERE project = $project AND first_ts < ${int(b)} AND last_ts >= ${int(a)}) u USING (h)
      GROUP BY ${colNames}, chunk`);
  }
  return parts.join('\nUNION ALL\n');
}

function selection(q: { event?: string; type?: string }, params: Params): Selection {
  const f: string[] = [];
  if (q.event !== undefined) (f.push('event = $event'), (params.event = q.event));
  if (q.type !== undefined) (f.push('type = $type'), (params.type = q.type));
  const lvl = q.event !== undefined ? LEVEL.event : q.type !== undefined ? LEVEL.type : LEVEL.all;
  return { lvl, filter: f.join(' AND ') };
}

export async function countFromSummaries(conn: DuckDBConnection, project: string, q: CountQuery, key: string): Promise<CountResult> {
  const c = cut(q.from, q.to)!;
  const params: Params = { project };
  const s = selection(q, params);
  const counts = (
    await conn.runAndReadAll(`SELECT k::DOUBLE AS k, grouping(k)::INTEGER AS g, sum(n)::DOUBLE AS n FROM (${countRows(c, s, `${key} AS k`)}) GROUP BY GROUPING SETS ((k), ())`, params)
  ).getRowObjectsJS() as Array<{ k: number | null; g: number; n: number | null }>;
  const users = (
    await conn.runAndReadAll(
      `SELECT k::DOUBLE AS k, g, sum(bit_count(b))::DOUBLE AS users FROM (
         SELECT k, grouping(k)::INTEGER AS g, chunk, bit_or(bits) AS b FROM (${bitRows(c, s, `${key} AS k`, 'k')}) GROUP BY GROUPING SETS ((k, chunk), (chunk))
       ) GROUP BY k, g`,
      params,
    )
  ).getRowObjectsJS() as Array<{ k: number | null; g: number; users: number }>;
  const usersOf = new Map<number, number>();
  let totalUsers = 0;
  for (const u of users) {
    if (u.g === 1) totalUsers = u.users;
    else usersOf.set(u.k!, u.users);
  }
  const buckets: BucketCount[] = [];
  let total = { count: 0, users: 0 };
  for (const r of counts) {
    if (r.g === 1) total = { count: r.n ?? 0, users: totalUsers };
    else buckets.push({ key: r.k!, count: r.n!, users: usersOf.get(r.k!) ?? 0 });
  }
  return { buckets, total };
}

export function usableForTopEvents(q: TopEventsQuery): boolean {
  return cut(q.from, q.to) !== null;
}

export async function topEventsFromSummaries(conn: DuckDBConnection, project: string, q: TopEventsQuery): Promise<EventTotal[]> {
  const c = cut(q.from, q.to)!;
  const named: Selection = { lvl: LEVEL.event, filter: 'event IS NOT NULL' };
  const top = (
    await conn.runAndReadAll(
      `SELECT event, sum(n)::DOUBLE AS count FROM (${countRows(c, named, 'event')}) GROUP BY event ORDER BY count DESC, event LIMIT ${int(q.limit)}`,
      { project },
    )
  ).getRowObjectsJS() as Array<{ event: string; count: number }>;
  if (top.length === 0) return [];
  const params: Params = { project };
  top.forEach((t, i) => (params[`e${i}`] = t.event));
  const these: Selection = { lvl: LEVEL.event, filter: `event IN (${top.map((_, i) => `$e${i}`).join(', ')})` };
  const users = (
    await conn.runAndReadAll(
      `SELECT event, sum(bit_count(b))::DOUBLE AS users FROM (
         SELECT event, chunk, bit_or(bits) AS b FROM (${bitRows(c, these, 'event', 'event')}) GROUP BY event, chunk
       ) GROUP BY event`,
      params,
    )
  ).getRowObjectsJS() as Array<{ event: string; users: number }>;
  const usersOf = new Map(users.map((u) => [u.event, u.users]));
  return top.map((t) => ({ event: t.event, count: t.count, users: usersOf.get(t.event) ?? 0 }));
}

export function usableForRetention(q: RetentionQuery): boolean {
  return wholeHourZone(q.spans) && cut(q.from, q.to) !== null && cut(q.from, q.end) !== null;
}

/**
 * Cohorts from the bitmaps: per period, the users of startEvent (inside [from, to)) and of returnEvent
 * (inside [from, end)); the returned users of a cohort are the AND of its bitmap with a later period's.
 */
export async function retentionFromSummaries(conn: DuckDBConnection, project: string, q: RetentionQuery, dayKey: string): Promise<RetentionCohort[]> {
  const k = `${periodKeySql(q.period, dayKey, '//')} AS k`;
  const params: Params = { project, a: q.startEvent, b: q.returnEvent };
  const starts = bitRows(cut(q.from, q.to)!, { lvl: LEVEL.event, filter: 'event = $a' }, k, 'k');
  const returns = bitRows(cut(q.from, q.end)!, { lvl: LEVEL.event, filter: 'event = $b' }, k, 'k');
  const rows = (
    await conn.runAndReadAll(
      `WITH a AS (SELECT k, chunk, bit_or(bits) AS b FROM (${starts}) GROUP BY k, chunk),
            r AS (SELECT k, chunk, bit_or(bits) AS b FROM (${returns}) GROUP BY k, chunk)
       SELECT k::DOUBLE AS cohort, 0::DOUBLE AS n, sum(bit_count(b))::DOUBLE AS users FROM a GROUP BY k
       UNION ALL
       SELECT a.k::DOUBLE, (r.k - a.k)::DOUBLE, sum(bit_count(a.b & r.b))::DOUBLE
       FROM a JOIN r ON r.chunk = a.chunk AND r.k > a.k AND r.k <= a.k + ${int(q.periods)} GROUP BY a.k, r.k - a.k`,
      params,
    )
  ).getRowObjectsJS() as unknown as Array<{ cohort: number; n: number; users: number }>;
  return cohortsOf(rows, q.periods);
}
