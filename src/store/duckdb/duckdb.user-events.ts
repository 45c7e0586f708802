// What the summaries know of a user (duckdb.summaries.ts), for reads by user: their event count, first
// and last time from stat_users, and their latest events from stat_user_events (a scan of its narrow
// ordinal column instead of the events table's hash column, then the rows fetched by seq).
import { LIST, VARCHAR, listValue, type DuckDBConnection, type DuckDBValue } from '@duckdb/node-api';
import { sqlInt } from '../sql.js';

const IDS = { ids: LIST(VARCHAR) };
/** The stat_users rows of the users `ids` (as the stats name users: userId, else anonymousId). */
const USERS = 'SELECT * FROM stat_users WHERE project = $project AND h IN (SELECT hash(unnest($ids))) AND id IN (SELECT unnest($ids))';

export interface UserTotals {
  count: number;
  first: number | null;
  last: number | null;
}

/** The events of the users `ids`: how many, first and last `ts`. */
export async function userTotals(db: DuckDBConnection, project: string, ids: readonly string[]): Promise<UserTotals> {
  const r = await db.runAndReadAll(`SELECT coalesce(sum(n), 0)::DOUBLE, min(first_ts)::DOUBLE, max(last_ts)::DOUBLE FROM (${USERS})`, { project, ids: listValue([...ids]) }, IDS);
  const [count, first, last] = r.getRowsJS()[0] as [number, number | null, number | null];
  return { count, first, last };
}

/**
 * The seqs of the latest `want` events of the users `ids` (by ts, then seq, descending), only those
 * before `before` (ts < t, or ts = t and seq < s) when given; `all`: they have no other such event.
 */
export async function latestSeqs(
  db: DuckDBConnection,
  project: string,
  ids: readonly string[],
  want: number,
  before?: { t: number; s: number },
): Promise<{ seqs: number[]; all: boolean }> {
  const n = Math.max(1, Math.floor(want));
  const params: Record<string, DuckDBValue> = { project, ids: listValue([...ids]) };
  let cursor = '';
  if (before) {
    cursor = 'AND (ts < $ct OR (ts = $ct AND seq < $cs))';
    Object.assign(params, { ct: before.t, cs: before.s });
  }
  const r = await db.runAndReadAll(
    `SELECT seq::DOUBLE FROM stat_user_events WHERE project = $project AND ord IN (SELECT ord FROM (${USERS})) ${cursor}
     ORDER BY ts DESC, seq DESC LIMIT ${n + 1}`,
    params,
    IDS,
  );
  const seqs = r.getRowsJS().map((x) => Number(x[0]));
  return { seqs: seqs.slice(0, n), all: seqs.length <= n };
}

/**
 * A query of `columns` over the events with these seqs that also meet `where`: one equality lookup per
 * seq, joined by UNION ALL. DuckDB turns `seq IN (...)` into a join that decodes the body of every row
 * its scan passes (~350 ms for 51 rows at 10M events); each `seq = n` is pruned to one row group by
 * the seq zone maps and decodes one vector of bodies (~1 ms).
 */
export function rowsBySeqs(seqs: readonly number[], columns: string, where: string): string {
  if (seqs.length === 0) return `SELECT ${columns} FROM events WHERE false`;
  return seqs.map((s) => `SELECT ${columns} FROM events WHERE ${where} AND seq = ${sqlInt(Math.floor(s))}`).join('\nUNION ALL\n');
}
