// The stats queries (contracts/stats-store.ts) over the PostgreSQL events table, with the same
// answers as DuckDB's (store/duckdb/stats.queries.ts): one scan per query over the (project, ts)
// or (project, event, ts) index, the bucket key as integer arithmetic on ts with the zone's offset
// spans inlined as a CASE, and GROUPING SETS for the buckets and the total in one pass.
import type pg from 'pg';
import type { BucketCount, CountQuery, CountResult, EventTotal, FunnelQuery, OffsetSpan, PageTotal, RetentionCohort, RetentionQuery, StatsStore, TopEventsQuery } from '../../contracts/stats-store.js';
import { cohortsOf, periodKeySql, retentionSql } from '../retention.sql.js';
import { seriesOf, type SeriesRow } from '../breakdown.js';
import { funnelRange, funnelSql } from '../funnel.sql.js';
import { sqlInt as int } from '../sql.js';
import { dec, enc } from './pg.text.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** Who an event is by: its userId, else its anonymousId (both stored encoded: distinct counts are unchanged). */
const USER = 'coalesce(user_id, anonymous_id)';


/** (ts + offset) mod unit, in [0, unit) for negative values too. */
const localMod = (offset: number, unit: number) => `(((ts + ${int(offset)}) % ${unit}) + ${unit}) % ${unit}`;

/** The bucket key of contracts/stats-store.ts (BucketCount.key) as a PostgreSQL expression over `ts`. */
export function bucketKeySql(interval: CountQuery['interval'], spans: readonly OffsetSpan[]): string {
  if (spans.length === 0) throw new Error('at least one offset span is needed');
  const piece = (s: OffsetSpan, i: number) => {
    // The dividend is a multiple of a day: exact whatever the sign.
    if (interval === 'day') return `(ts + ${int(s.offsetMs)} - ${localMod(s.offsetMs, DAY_MS)}) / ${DAY_MS}`;
    const start = `ts - ${localMod(s.offsetMs, HOUR_MS)}`;
    return i === 0 ? start : `greatest(${int(s.start)}, ${start})`;
  };
  if (spans.length === 1) return piece(spans[0], 0);
  const whens = spans.slice(0, -1).map((s, i) => `WHEN ts < ${int(spans[i + 1].start)} THEN ${piece(s, i)}`);
  return `CASE ${whens.join(' ')} ELSE ${piece(spans.at(-1)!, spans.length - 1)} END`;
}

/** The tagged value of `properties[key]` (store/breakdown.ts), NULL when not a string, number or boolean. */
function taggedValue(key: string): string {
  const v = `body->'properties'->${key}`;
  const text = `body->'properties'->>${key}`;
  return `CASE json_typeof(${v}) WHEN 'string' THEN 's' || (${text}) WHEN 'boolean' THEN 'b' || (${text}) WHEN 'number' THEN 'n' || ((${text})::float8)::text END`;
}

async function countEvents(db: pg.Pool, project: string, q: CountQuery): Promise<CountResult> {
  const params: unknown[] = [enc(project), q.from, q.to];
  const param = (v: unknown) => (params.push(v), `$${params.length}`);
  const where = ['project = $1', 'ts >= $2', 'ts < $3'];
  if (q.event !== undefined) where.push(`event = ${param(enc(q.event))}`);
  if (q.type !== undefined) where.push(`type = ${param(enc(q.type))}`);
  for (const f of q.where ?? []) {
    const key = `${param(enc(f.property))}::text`;
    const value = `${param(typeof f.equals === 'string' ? enc(f.equals) : String(f.equals))}::text`;
    where.push(`coalesce(${propertyEquals(key, value, f.equals)}, false)`);
  }
  const key = bucketKeySql(q.interval, q.spans);
  const sql = `SELECT k::float8 AS k, grouping(k)::int AS g, count(*)::float8 AS n, count(DISTINCT u)::float8 AS users
    FROM (SELECT ${key} AS k, ${USER} AS u FROM events WHERE ${where.join(' AND ')}) AS e
    GROUP BY GROUPING SETS ((k), ())`;
  const rows = (await db.query<{ k: number | null; g: number; n: number; users: number }>(sql, params)).rows;
  const buckets: BucketCount[] = [];
  let total = { count: 0, users: 0 };
  for (const r of rows) {
    if (r.g === 1) total = { count: r.n, users: r.users };
    else buckets.push({ key: r.k!, count: r.n, users: r.users });
  }
  if (q.breakdown === undefined) return { buckets, total };
  const values = `SELECT ${taggedValue(`${param(enc(q.breakdown.property))}::text`)} AS v, ${key} AS k, ${USER} AS u FROM events WHERE ${where.join(' AND ')}`;
  const topRows = await db.query<{ v: string }>(`SELECT v FROM (${values}) AS x WHERE v IS NOT NULL GROUP BY v ORDER BY count(*) DESC, v COLLATE "C" LIMIT ${int(q.breakdown.limit)}`, params);
  const top = topRows.rows.map((r) => r.v);
  const inTop = top.length === 0 ? 'false' : `v = ANY(${param(top)}::text[])`;
  const seriesRows = (
    await db.query<SeriesRow>(
      `SELECT s, k::float8 AS k, grouping(k)::int AS g, count(*)::float8 AS n, count(DISTINCT u)::float8 AS users
       FROM (SELECT CASE WHEN ${inTop} THEN v END AS s, k, u FROM (${values}) AS x) AS y GROUP BY GROUPING SETS ((s, k), (s))`,
      params,
    )
  ).rows;
  // Tagged strings come back encoded (pg.text.ts): decoded as values, matched as stored.
  return { buckets, total, series: seriesOf(seriesRows, top).map((sr) => (typeof sr.value === 'string' ? { ...sr, value: dec(sr.value) } : sr)) };
}

async function topEvents(db: pg.Pool, project: string, q: TopEventsQuery): Promise<EventTotal[]> {
  const sql = `SELECT event, count(*)::float8 AS count, count(DISTINCT ${USER})::float8 AS users FROM events
    WHERE project = $1 AND ts >= $2 AND ts < $3 AND event IS NOT NULL
    GROUP BY event ORDER BY count DESC, event LIMIT ${int(q.limit)}`;
  const rows = (await db.query<EventTotal>(sql, [enc(project), q.from, q.to])).rows;
  return rows.map((r) => ({ ...r, event: dec(r.event) }));
}

async function topPages(db: pg.Pool, project: string, q: TopEventsQuery): Promise<PageTotal[]> {
  // `enrich` (pg.schema.ts v3) never touches context.page: the body alone answers.
  const sql = `SELECT path, count(*)::float8 AS count, count(DISTINCT u)::float8 AS users
    FROM (SELECT body->'context'->'page'->'path' AS p, body->'context'->'page'->>'path' AS path, ${USER} AS u FROM events
      WHERE project = $1 AND ts >= $2 AND ts < $3 AND type = 'page') AS e
    WHERE json_typeof(p) = 'string'
    GROUP BY path ORDER BY count DESC, path COLLATE "C" LIMIT ${int(q.limit)}`;
  const rows = (await db.query<PageTotal>(sql, [enc(project), q.from, q.to])).rows;
  return rows.map((r) => ({ ...r, path: dec(r.path) }));
}

/** SQL true when `properties[key]` (parameter `key`) has the same JSON type and value as `value` (parameter). */
function propertyEquals(key: string, value: string, equals: string | number | boolean): string {
  const v = `body->'properties'->${key}`;
  if (typeof equals === 'string') return `(json_typeof(${v}) = 'string' AND body->'properties'->>${key} = ${value})`;
  if (typeof equals === 'boolean') return `(json_typeof(${v}) = 'boolean' AND body->'properties'->>${key} = ${value})`;
  return `(json_typeof(${v}) = 'number' AND (body->'properties'->>${key})::numeric = ${value}::numeric)`;
}

async function funnel(db: pg.Pool, project: string, q: FunnelQuery): Promise<number[]> {
  const params: unknown[] = [enc(project)];
  const param = (v: unknown) => (params.push(v), `$${params.length}`);
  const names: string[] = [];
  const matches = q.steps.map((step, i) => {
    const name = param(enc(step.event));
    names.push(name);
    if (step.where === undefined) return `(event = ${name}) AS m${i + 1}`;
    const { property, equals } = step.where;
    const value = param(typeof equals === 'string' ? enc(equals) : String(equals));
    return `(event = ${name} AND coalesce(${propertyEquals(`${param(enc(property))}::text`, `${value}::text`, equals)}, false)) AS m${i + 1}`;
  });
  const range = funnelRange(q);
  const source = `SELECT ${USER} AS u, ts, ${matches.join(', ')} FROM events
    WHERE project = $1 AND ts >= ${range.from} AND ts < ${range.to} AND event IN (${names.join(', ')}) AND ${USER} IS NOT NULL`;
  const row = (await db.query<Record<string, number>>(funnelSql(q.steps.length, source, q), params)).rows[0];
  return q.steps.map((_, i) => Number(row[`s${i + 1}`] ?? 0));
}

async function retention(db: pg.Pool, project: string, q: RetentionQuery): Promise<RetentionCohort[]> {
  const k = periodKeySql(q.period, bucketKeySql('day', q.spans), '/');
  const source = `SELECT ${USER} AS u, ${k} AS k, (event = $2 AND ts < ${int(q.to)}) AS a, (event = $3) AS b FROM events
    WHERE project = $1 AND ts >= ${int(q.from)} AND ts < ${int(q.end)} AND event IN ($2, $3) AND ${USER} IS NOT NULL`;
  const rows = (await db.query<{ cohort: number; n: number; users: number }>(retentionSql(source, q.periods), [enc(project), enc(q.startEvent), enc(q.returnEvent)])).rows;
  return cohortsOf(rows, q.periods);
}

export function pgStats(db: pg.Pool): StatsStore {
  return {
    countEvents: (project, q) => countEvents(db, project, q),
    topEvents: (project, q) => topEvents(db, project, q),
    topPages: (project, q) => topPages(db, project, q),
    funnel: (project, q) => funnel(db, project, q),
    retention: (project, q) => retention(db, project, q),
  };
}
