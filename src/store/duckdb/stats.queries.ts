// The stats queries over the events table (contracts/stats-store.ts), as functions of a DuckDB
// connection: the store hands them its reader connection, so they never wait for a segment load.
// Each scan is one pass: the bucket key is integer arithmetic on `ts` with the zone's offsets inlined
// as a CASE over their spans, and GROUPING SETS gives the buckets and the total together. Counts, top
// events and retention are answered from the summaries instead when they can (stats.from-summaries.ts).
import type { DuckDBConnection } from '@duckdb/node-api';
import type { BucketCount, CountQuery, CountResult, EventTotal, FunnelQuery, OffsetSpan, PageTotal, RetentionCohort, RetentionQuery, StatsStore, TopEventsQuery } from '../../contracts/stats-store.js';
import { cohortsOf, periodKeySql, retentionSql } from '../retention.sql.js';
import { seriesOf, type SeriesRow } from '../breakdown.js';
import { funnelRange, funnelSql } from '../funnel.sql.js';
import { sqlInt as int } from '../sql.js';
import { countFromSummaries, retentionFromSummaries, topEventsFromSummaries, usableForCount, usableForRetention, usableForTopEvents } from './stats.from-summaries.js';
import { USER_HASH, USER_KEY } from './duckdb.summaries.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** floor((ts + offset) / unit) and the unit's start, exact for negative values too. */
const localMod = (offset: number, unit: number) => `(((ts + ${int(offset)}) % ${unit}) + ${unit}) % ${unit}`;

/** The bucket key of contracts/stats-store.ts (BucketCount.key) as a SQL expression over `ts`. */
export function bucketKeySql(interval: CountQuery['interval'], spans: readonly OffsetSpan[]): string {
  if (spans.length === 0) throw new Error('at least one offset span is needed');
  const piece = (s: OffsetSpan, i: number) => {
    if (interval === 'day') return `(ts + ${int(s.offsetMs)} - ${localMod(s.offsetMs, DAY_MS)}) // ${DAY_MS}`;
    const start = `ts - ${localMod(s.offsetMs, HOUR_MS)}`;
    return i === 0 ? start : `greatest(${int(s.start)}, ${start})`;
  };
  if (spans.length === 1) return piece(spans[0], 0);
  const whens = spans.slice(0, -1).map((s, i) => `WHEN ts < ${int(spans[i + 1].start)} THEN ${piece(s, i)}`);
  return `CASE ${whens.join(' ')} ELSE ${piece(spans.at(-1)!, spans.length - 1)} END`;
}

/** The json_type names of a JSON number. */
const JSON_NUMBER_TYPES = ['BIGINT', 'UBIGINT', 'DOUBLE'];

/** The tagged value of `properties[...]` at JSON pointer parameter `path` (store/breakdown.ts), NULL when not a string, number or boolean. */
function taggedValue(path: string): string {
  const number = `'n' || CAST(TRY_CAST(json_extract(body, ${path}) AS DOUBLE) AS VARCHAR)`;
  return `CASE json_type(body, ${path}) WHEN 'VARCHAR' THEN 's' || json_extract_string(body, ${path}) WHEN 'BOOLEAN' THEN 'b' || json_extract_string(body, ${path})
    ${JSON_NUMBER_TYPES.map((t) => `WHEN '${t}' THEN ${number}`).join(' ')} END`;
}

/** countEvents by a scan of the events: property filters, breakdowns, zones with offsets of part of an hour, ranges under two hours. */
export async function scanCountEvents(conn: DuckDBConnection, user: string, project: string, q: CountQuery): Promise<CountResult> {
  const where = ['project = $project', 'ts >= $from', 'ts < $to'];
  const params: Record<string, string | number | boolean> = { project, from: q.from, to: q.to };
  if (q.event !== undefined) (where.push('event = $event'), (params.event = q.event));
  if (q.type !== undefined) (where.push('type = $type'), (params.type = q.type));
  (q.where ?? []).forEach((f, i) => {
    params[`wp${i}`] = propertyPointer(f.property);
    params[`wv${i}`] = typeof f.equals === 'boolean' ? String(f.equals) : f.equals;
    where.push(`coalesce(${propertyEquals(`$wp${i}`, `$wv${i}`, f.equals)}, false)`);
  });
  const key = bucketKeySql(q.interval, q.spans);
  const sql = `SELECT k::DOUBLE AS k, grouping(k)::INTEGER AS g, count(*)::DOUBLE AS n, count(DISTINCT u)::DOUBLE AS users
    FROM (SELECT ${key} AS k, ${user} AS u FROM events WHERE ${where.join(' AND ')})
    GROUP BY GROUPING SETS ((k), ())`;
  const rows = (await conn.runAndReadAll(sql, params)).getRowObjectsJS() as Array<{ k: number | null; g: number; n: number; users: number }>;
  const buckets: BucketCount[] = [];
  let total = { count: 0, users: 0 };
  for (const r of rows) {
    if (r.g === 1) total = { count: r.n, users: r.users };
    else buckets.push({ key: r.k!, count: r.n, users: r.users });
  }
  if (q.breakdown === undefined) return { buckets, total };
  params.bp = propertyPointer(q.breakdown.property);
  const values = `SELECT ${taggedValue('$bp')} AS v, ${key} AS k, ${user} AS u FROM events WHERE ${where.join(' AND ')}`;
  const top = (
    await conn.runAndReadAll(`SELECT v FROM (${values}) WHERE v IS NOT NULL GROUP BY v ORDER BY count(*) DESC, v LIMIT ${int(q.breakdown.limit)}`, params)
  ).getRowsJS().map((r) => String(r[0]));
  top.forEach((t, i) => (params[`t${i}`] = t));
  const inTop = top.length === 0 ? 'false' : `v IN (${top.map((_, i) => `$t${i}`).join(', ')})`;
  const seriesRows = (
    await conn.runAndReadAll(
      `SELECT s, k::DOUBLE AS k, grouping(k)::INTEGER AS g, count(*)::DOUBLE AS n, count(DISTINCT u)::DOUBLE AS users
       FROM (SELECT CASE WHEN ${inTop} THEN v END AS s, k, u FROM (${values})) GROUP BY GROUPING SETS ((s, k), (s))`,
      params,
    )
  ).getRowObjectsJS() as unknown as SeriesRow[];
  return { buckets, total, series: seriesOf(seriesRows, top) };
}

export async function scanTopEvents(conn: DuckDBConnection, user: string, project: string, q: TopEventsQuery): Promise<EventTotal[]> {
  const sql = `SELECT event, count(*)::DOUBLE AS count, count(DISTINCT ${user})::DOUBLE AS users FROM events
    WHERE project = $project AND ts >= $from AND ts < $to AND event IS NOT NULL
    GROUP BY event ORDER BY count DESC, event LIMIT ${int(q.limit)}`;
  return (await conn.runAndReadAll(sql, { project, from: q.from, to: q.to })).getRowObjectsJS() as unknown as EventTotal[];
}

export async function topPages(conn: DuckDBConnection, user: string, project: string, q: TopEventsQuery): Promise<PageTotal[]> {
  // The bulk path stores the body as sent (enrichment beside it never touches context.page).
  const sql = `SELECT path, count(*)::DOUBLE AS count, count(DISTINCT u)::DOUBLE AS users
    FROM (SELECT json_extract_string(body, '$.context.page.path') AS path, json_type(body, '$.context.page.path') AS kind, ${user} AS u FROM events
      WHERE project = $project AND ts >= $from AND ts < $to AND type = 'page')
    WHERE kind = 'VARCHAR'
    GROUP BY path ORDER BY count DESC, path LIMIT ${int(q.limit)}`;
  return (await conn.runAndReadAll(sql, { project, from: q.from, to: q.to })).getRowObjectsJS() as unknown as PageTotal[];
}

/** JSON pointer to `properties[key]` (RFC 6901: ~ and / escaped), what DuckDB's JSON functions take as a path. */
function propertyPointer(key: string): string {
  return `/properties/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
}

/** SQL true when the body's property (path parameter `$path`) has the same JSON type and value as `value` (parameter `$value`). */
function propertyEquals(path: string, value: string, equals: string | number | boolean): string {
  if (typeof equals === 'string') return `(json_type(body, ${path}) = 'VARCHAR' AND json_extract_string(body, ${path}) = ${value})`;
  if (typeof equals === 'boolean') return `(json_type(body, ${path}) = 'BOOLEAN' AND json_extract_string(body, ${path}) = ${value})`;
  return `(json_type(body, ${path}) IN (${JSON_NUMBER_TYPES.map((t) => `'${t}'`).join(', ')}) AND TRY_CAST(json_extract(body, ${path}) AS DOUBLE) = ${value})`;
}

export async function funnel(conn: DuckDBConnection, user: string, project: string, q: FunnelQuery): Promise<number[]> {
  const params: Record<string, string | number> = { project };
  const matches = q.steps.map((step, i) => {
    params[`e${i}`] = step.event;
    if (step.where === undefined) return `(event = $e${i}) AS m${i + 1}`;
    params[`p${i}`] = propertyPointer(step.where.property);
    params[`v${i}`] = typeof step.where.equals === 'boolean' ? String(step.where.equals) : step.where.equals;
    return `(event = $e${i} AND coalesce(${propertyEquals(`$p${i}`, `$v${i}`, step.where.equals)}, false)) AS m${i + 1}`;
  });
  const range = funnelRange(q);
  const names = q.steps.map((_, i) => `$e${i}`).join(', ');
  const source = `SELECT ${user} AS u, ts, ${matches.join(', ')} FROM events
    WHERE project = $project AND ts >= ${range.from} AND ts < ${range.to} AND event IN (${names}) AND ${user} IS NOT NULL`;
  const row = (await conn.runAndReadAll(funnelSql(q.steps.length, source, q), params)).getRowObjectsJS()[0] as Record<string, number>;
  return q.steps.map((_, i) => Number(row[`s${i + 1}`] ?? 0));
}

export async function scanRetention(conn: DuckDBConnection, user: string, project: string, q: RetentionQuery): Promise<RetentionCohort[]> {
  const k = periodKeySql(q.period, bucketKeySql('day', q.spans), '//');
  const source = `SELECT ${user} AS u, ${k} AS k, (event = $a AND ts < ${int(q.to)}) AS a, (event = $b) AS b FROM events
    WHERE project = $project AND ts >= ${int(q.from)} AND ts < ${int(q.end)} AND event IN ($a, $b) AND ${user} IS NOT NULL`;
  const rows = (await conn.runAndReadAll(retentionSql(source, q.periods), { project, a: q.startEvent, b: q.returnEvent })).getRowObjectsJS();
  return cohortsOf(rows as unknown as Array<{ cohort: number; n: number; users: number }>, q.periods);
}

/**
 * The StatsStore over a connection: counts, top events and retention from the summaries when they can
 * answer (stats.from-summaries.ts), else, like the other queries, a scan of the events. Who an event is
 * by: its userId, else its anonymousId, as sent (identity links are not resolved); with the integer
 * hash columns (uhash = hash(user_id), ahash = hash(anonymous_id)) a scan's distinct counts work on
 * 64-bit integers instead of strings (about 1.5x faster here; a collision would undercount by one
 * with probability ~n^2/2^65, 1e-10 at 100k users), else on the strings.
 * `scanOnly`: never the summaries (the property test's reference answers).
 */
export async function duckDbStats(conn: DuckDBConnection, opts: { scanOnly?: boolean } = {}): Promise<StatsStore> {
  const r = await conn.runAndReadAll(
    "SELECT count(*)::INTEGER FROM duckdb_columns() WHERE table_name = 'events' AND column_name IN ('uhash', 'ahash')",
  );
  const user = Number(r.getRowsJS()[0][0]) === 2 ? USER_HASH : USER_KEY;
  const summaries = opts.scanOnly !== true;
  return {
    countEvents: (project, q) =>
      summaries && usableForCount(q) ? countFromSummaries(conn, project, q, bucketKeySql(q.interval, q.spans)) : scanCountEvents(conn, user, project, q),
    topEvents: (project, q) => (summaries && usableForTopEvents(q) ? topEventsFromSummaries(conn, project, q) : scanTopEvents(conn, user, project, q)),
    topPages: (project, q) => topPages(conn, user, project, q),
    funnel: (project, q) => funnel(conn, user, project, q),
    retention: (project, q) =>
      summaries && usableForRetention(q) ? retentionFromSummaries(conn, project, q, bucketKeySql('day', q.spans)) : scanRetention(conn, user, project, q),
  };
}
