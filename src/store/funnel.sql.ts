// The funnel query's shape, shared by both stores (contracts/stats-store.ts StatsStore.funnel): each
// store writes the source rows (its own JSON functions and parameters), this writes the rest in SQL
// that DuckDB and PostgreSQL both run.
//
// For every step-1 event (a start) it follows the steps greedily: step k is the earliest matching
// event after step k-1's and within the window of the start, which reaches as far as any choice can
// for that start. A user's level is the best over their starts; step k counts the users at level >= k.

import { sqlInt } from './sql.js';

/**
 * `source`: a query of the events that may take part, with columns `u` (the user, never null), `ts`,
 * and booleans `m1`..`mN` (the event matches step k). Answers one row with `s1`..`sN`, the users per step.
 */
export function funnelSql(steps: number, source: string, q: { from: number; to: number; windowMs: number }): string {
  const w = sqlInt(q.windowMs);
  const ctes = [
    `e AS (${source})`,
    `c1 AS (SELECT u, ts AS t1, 1 AS lvl, ts AS p FROM e WHERE m1 AND ts >= ${sqlInt(q.from)} AND ts < ${sqlInt(q.to)})`,
  ];
  for (let k = 2; k <= steps; k++) {
    ctes.push(
      `c${k} AS (SELECT c.u, c.t1, CASE WHEN min(x.ts) IS NULL THEN c.lvl ELSE ${k} END AS lvl, min(x.ts) AS p
        FROM c${k - 1} c LEFT JOIN e x ON x.u = c.u AND x.m${k} AND x.ts > c.p AND x.ts <= c.t1 + ${w}
        GROUP BY c.u, c.t1, c.lvl)`,
    );
  }
  const counts = Array.from({ length: steps }, (_, i) => `CAST(count(*) FILTER (WHERE lvl >= ${i + 1}) AS FLOAT8) AS s${i + 1}`);
  return `WITH ${ctes.join(',\n')}
    SELECT ${counts.join(', ')} FROM (SELECT u, max(lvl) AS lvl FROM c${steps} GROUP BY u) AS best`;
}

/** The rows a funnel reads: events from step 1's range start to its end plus the window. */
export function funnelRange(q: { from: number; to: number; windowMs: number }): { from: string; to: string } {
  return { from: sqlInt(q.from), to: sqlInt(q.to + q.windowMs) }; // a start is before `to`: its window ends before to + windowMs
}
