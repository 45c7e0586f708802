// Summaries of the events table, kept by the processor in the same transaction as the events they
// summarise (so they cannot drift), and read by the stats and profile queries instead of a scan.
//
// - stat_users: one row per (project, user), the user being coalesce(userId, anonymousId) as sent (the
//   stats' definition): h = hash(id) (what the events' uhash/ahash hold), a dense ordinal per project,
//   the count of events, the first and last `ts`.
// - stat_user_events: each event that has a user, as (its user's ordinal, ts, seq): a narrow copy of
//   the events table's user column that a read by user scans instead of the table (~10x less), then
//   fetches the rows it found by seq.
// - stat_counts: events per UTC hour at three levels: lvl 0 all events, lvl 1 per type, lvl 2 per
//   (type, event).
// - stat_bits: the users of the same groups as bitmaps of their ordinals, cut in chunks of
//   CHUNK_BITS (a 512-byte BIT each), so distinct users over any set of hours is exact: OR the
//   chunks, count the bits. Hours are UTC; a zone whose offsets are whole hours has its days and
//   hours made of whole UTC hours, so any such bucket is a union of summary rows.
//
// The rows a transaction added are named by a predicate on `seq` (seqs are unique: the log numbers
// every line once; a load covers the seq range of its segments, from the first one's first line to the
// last one's last, which no other segment shares; a replay names its lines' seqs), so the summaries
// are computed from the stored rows themselves.
import type { DuckDBConnection } from '@duckdb/node-api';
import { sqlInt as int } from '../sql.js';

export const HOUR_MS = 3_600_000;
/** Ordinals per stat_bits row. */
export const CHUNK_BITS = 4096;

/** Who an event is by, for the stats: its userId, else its anonymousId, as sent. */
export const USER_KEY = 'coalesce(user_id, anonymous_id)';
/** hash(USER_KEY) from the events' hash columns (rows stored before they existed, NULL there, hash on the fly). */
export const USER_HASH = 'CASE WHEN user_id IS NOT NULL THEN coalesce(uhash, hash(user_id)) WHEN anonymous_id IS NOT NULL THEN coalesce(ahash, hash(anonymous_id)) END';

export const SUMMARY_TABLES = `
CREATE TABLE stat_users (project VARCHAR NOT NULL, id VARCHAR NOT NULL, h UBIGINT NOT NULL, ord INTEGER NOT NULL, n BIGINT NOT NULL, first_ts BIGINT NOT NULL, last_ts BIGINT NOT NULL);
CREATE TABLE stat_user_events (project VARCHAR NOT NULL, ord INTEGER NOT NULL, ts BIGINT NOT NULL, seq BIGINT NOT NULL);
CREATE TABLE stat_counts (project VARCHAR NOT NULL, lvl TINYINT NOT NULL, ts BIGINT NOT NULL, type VARCHAR, event VARCHAR, n BIGINT NOT NULL);
CREATE TABLE stat_bits (project VARCHAR NOT NULL, lvl TINYINT NOT NULL, ts BIGINT NOT NULL, type VARCHAR, event VARCHAR, chunk INTEGER NOT NULL, bits BIT NOT NULL);`;

/** The summary levels: which of (type, event) a row is keyed by. */
export const LEVEL = { all: 0, type: 1, event: 2 } as const;

/** The level of a row grouped by GROUPING SETS ((..., ts, ...), (..., ts, type, ...)): all events, or per type. */
const UPPER_LEVEL = `(CASE grouping(type) WHEN 1 THEN ${LEVEL.all} ELSE ${LEVEL.type} END)::TINYINT`;
/** The key of a stat_counts / stat_bits row. */
const SAME_KEY = (a: string, b: string, extra = '') =>
  `${a}.project = ${b}.project AND ${a}.lvl = ${b}.lvl AND ${a}.ts = ${b}.ts AND ${a}.type IS NOT DISTINCT FROM ${b}.type AND ${a}.event IS NOT DISTINCT FROM ${b}.event${extra}`;

/**
 * Adds the events selected by `newRows` (a predicate on the events table naming the rows this
 * transaction inserted) to the summaries. Runs inside the caller's transaction.
 */
export async function addToSummaries(db: DuckDBConnection, newRows: string): Promise<void> {
  await db.run(`CREATE OR REPLACE TEMP TABLE stat_new AS
    SELECT seq, project, ts, (ts // ${HOUR_MS}) * ${HOUR_MS} AS hour, type, event, ${USER_KEY} AS id FROM events WHERE ${newRows}`);
  const span = (await db.runAndReadAll('SELECT count(*)::DOUBLE, min(hour)::DOUBLE FROM stat_new')).getRowsJS()[0] as number[];
  if (span[0] === 0) return void (await db.run('DROP TABLE stat_new'));
  // The batch's users, each with its stat_users row when it has one; a new user gets the next ordinal
  // of its project, in order of first event.
  await db.run(`CREATE OR REPLACE TEMP TABLE stat_new_users AS
    SELECT d.project, d.id, d.n, d.first_ts, d.last_ts, s.rowid AS rid,
      coalesce(s.ord, (coalesce(m.top, -1) + row_number() OVER (PARTITION BY d.project, s.ord IS NULL ORDER BY d.first_ts, d.id))::INTEGER) AS ord
    FROM (SELECT project, id, count(*) AS n, min(ts) AS first_ts, max(ts) AS last_ts FROM stat_new WHERE id IS NOT NULL GROUP BY project, id) d
    LEFT JOIN stat_users s USING (project, id)
    LEFT JOIN (SELECT project, max(ord) AS top FROM stat_users WHERE project IN (SELECT DISTINCT project FROM stat_new) GROUP BY project) m USING (project)`);
  await db.run(`UPDATE stat_users SET n = stat_users.n + d.n, first_ts = least(stat_users.first_ts, d.first_ts), last_ts = greatest(stat_users.last_ts, d.last_ts)
    FROM stat_new_users d WHERE d.rid IS NOT NULL AND stat_users.rowid = d.rid`);
  await db.run('INSERT INTO stat_users SELECT project, id, hash(id), ord, n, first_ts, last_ts FROM stat_new_users WHERE rid IS NULL');
  await db.run(`CREATE OR REPLACE TEMP TABLE stat_new_ords AS
    SELECT n.seq, n.project, n.hour AS ts, n.ts AS event_ts, n.type, n.event, u.ord FROM stat_new n LEFT JOIN stat_new_users u USING (project, id)`);
  await db.run('INSERT INTO stat_user_events SELECT project, ord, event_ts, seq FROM stat_new_ords WHERE ord IS NOT NULL');
  // Level 2 from the events; levels 1 and 0 from level 2's rows (sums of counts, ORs of bitmaps).
  await db.run(`CREATE OR REPLACE TEMP TABLE stat_new_counts AS
    SELECT project, ${LEVEL.event}::TINYINT AS lvl, ts, type, event, count(*) AS n FROM stat_new_ords GROUP BY project, ts, type, event`);
  await db.run(`INSERT INTO stat_new_counts
    SELECT project, ${UPPER_LEVEL}, ts, type, NULL, sum(n) FROM stat_new_counts GROUP BY GROUPING SETS ((project, ts), (project, ts, type))`);
  await db.run(`CREATE OR REPLACE TEMP TABLE stat_new_bits AS
    SELECT project, ${LEVEL.event}::TINYINT AS lvl, ts, type, event, chunk, bitstring_agg(bit, 0, ${CHUNK_BITS - 1}) AS bits
    FROM (SELECT project, ts, type, event, ord // ${CHUNK_BITS} AS chunk, (ord % ${CHUNK_BITS})::INTEGER AS bit FROM stat_new_ords WHERE ord IS NOT NULL)
    GROUP BY project, ts, type, event, chunk`);
  await db.run(`INSERT INTO stat_new_bits
    SELECT project, ${UPPER_LEVEL}, ts, type, NULL, chunk, bit_or(bits) FROM stat_new_bits GROUP BY GROUPING SETS ((project, ts, chunk), (project, ts, type, chunk))`);
  // Summary rows are appended in time order, so a bound on ts lets the merges skip older row groups.
  const since = `ts >= ${int(span[1])}`;
  await db.run(`UPDATE stat_counts c SET n = c.n + d.n FROM stat_new_counts d WHERE c.${since} AND ${SAME_KEY('c', 'd')}`);
  await db.run(`INSERT INTO stat_counts SELECT d.* FROM stat_new_counts d WHERE NOT EXISTS (SELECT 1 FROM stat_counts c WHERE c.${since} AND ${SAME_KEY('c', 'd')})`);
  await db.run(`UPDATE stat_bits c SET bits = c.bits | d.bits FROM stat_new_bits d WHERE c.${since} AND ${SAME_KEY('c', 'd', ' AND c.chunk = d.chunk')}`);
  await db.run(`INSERT INTO stat_bits SELECT d.* FROM stat_new_bits d WHERE NOT EXISTS (SELECT 1 FROM stat_bits c WHERE c.${since} AND ${SAME_KEY('c', 'd', ' AND c.chunk = d.chunk')})`);
  await db.run('DROP TABLE stat_new; DROP TABLE stat_new_users; DROP TABLE stat_new_ords; DROP TABLE stat_new_counts; DROP TABLE stat_new_bits');
}

/** Builds the summaries of every stored event (a store from before they existed), a million seqs at a time. */
export async function buildSummaries(db: DuckDBConnection): Promise<void> {
  const [lo, hi] = (await db.runAndReadAll('SELECT coalesce(min(seq), 0)::DOUBLE, coalesce(max(seq), -1)::DOUBLE FROM events')).getRowsJS()[0] as [number, number];
  for (let from = lo; from <= hi; from += 1_000_000) await addToSummaries(db, `seq >= ${int(from)} AND seq < ${int(from + 1_000_000)}`);
}
