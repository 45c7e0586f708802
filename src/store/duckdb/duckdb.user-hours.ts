// What the summaries know of a user (duckdb.summaries.ts), for reads by user: their event count,
// first and last time from stat_users, and the UTC hours they were active in from the all-events
// bitmaps. A user's latest N events lie in their N latest active hours (each holds at least one), so
// a read of them can skip every row group before the N-th latest: a user's events, found by a scan,
// come from a few row groups instead of the whole table.
import { LIST, VARCHAR, listValue, type DuckDBConnection } from '@duckdb/node-api';
import { CHUNK_BITS, LEVEL } from './duckdb.summaries.js';

export interface UserTotals {
  count: number;
  first: number | null;
  last: number | null;
}

/** The events of the users `ids` (as the stats name users: userId, else anonymousId): how many, first and last `ts`. */
export async function userTotals(db: DuckDBConnection, project: string, ids: readonly string[]): Promise<UserTotals> {
  const r = await db.runAndReadAll(
    `SELECT coalesce(sum(n), 0)::DOUBLE, min(first_ts)::DOUBLE, max(last_ts)::DOUBLE FROM stat_users
     WHERE project = $project AND h IN (SELECT hash(unnest($ids))) AND id IN (SELECT unnest($ids))`,
    { project, ids: listValue([...ids]) },
    { ids: LIST(VARCHAR) },
  );
  const [count, first, last] = r.getRowsJS()[0] as [number, number | null, number | null];
  return { count, first, last };
}

/**
 * The start of the hour from which the events of the users `ids` number at least `want` (their
 * `want`-th latest active hour), counting only hours that start before `before`; when they have
 * fewer such hours, the start of the earliest (`all`: every event of theirs before `before` is from
 * then on). null when they have no event before `before`.
 */
export async function recentHoursStart(
  db: DuckDBConnection,
  project: string,
  ids: readonly string[],
  want: number,
  before = Number.MAX_SAFE_INTEGER,
): Promise<{ start: number; all: boolean } | null> {
  const r = await db.runAndReadAll(
    `WITH u AS (SELECT ord, first_ts FROM stat_users WHERE project = $project AND h IN (SELECT hash(unnest($ids))) AND id IN (SELECT unnest($ids)))
     SELECT DISTINCT b.ts::DOUBLE AS ts FROM stat_bits b JOIN u ON b.chunk = u.ord // ${CHUNK_BITS}
     WHERE b.project = $project AND b.lvl = ${LEVEL.all} AND b.ts >= (SELECT min(first_ts) - 3600000 FROM u) AND b.ts < $before
       AND get_bit(b.bits, (u.ord % ${CHUNK_BITS})::INTEGER) = 1
     ORDER BY ts DESC LIMIT ${Math.max(1, Math.floor(want))}`,
    { project, ids: listValue([...ids]), before: Math.min(before, Number.MAX_SAFE_INTEGER) },
    { ids: LIST(VARCHAR) },
  );
  const hours = r.getRowsJS() as Array<[number]>;
  return hours.length === 0 ? null : { start: hours.at(-1)![0], all: hours.length < Math.max(1, Math.floor(want)) };
}
