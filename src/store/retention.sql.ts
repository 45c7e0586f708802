// The retention query's shape, shared by both stores (contracts/stats-store.ts StatsStore.retention):
// each store writes the source rows and its own day-key expression, this writes the rest in SQL that
// DuckDB and PostgreSQL both run.
import type { RetentionCohort, RetentionQuery } from '../contracts/stats-store.js';
import { sqlInt } from './sql.js';

/** The period key over a day-key expression: the day itself, or its week (Monday first), floor-divided exactly. */
export function periodKeySql(period: RetentionQuery['period'], dayKey: string, intDiv: string): string {
  if (period === 'day') return dayKey;
  return `((${dayKey}) + 3 - ((((${dayKey}) + 3) % 7) + 7) % 7) ${intDiv} 7`;
}

/**
 * `source`: the events that may take part, with columns `u` (never null), `k` (period key), `a` (a
 * startEvent inside [from, to)) and `b` (a returnEvent). Rows: (cohort, n, users): n = 0 is the
 * cohort's size, n = 1..periods its users who came back n periods later.
 */
export function retentionSql(source: string, periods: number): string {
  return `WITH e AS (${source}),
    c AS (SELECT DISTINCT u, k FROM e WHERE a),
    r AS (SELECT DISTINCT u, k FROM e WHERE b)
    SELECT CAST(c.k AS FLOAT8) AS cohort, CAST(0 AS FLOAT8) AS n, CAST(count(*) AS FLOAT8) AS users FROM c GROUP BY c.k
    UNION ALL
    SELECT CAST(c.k AS FLOAT8), CAST(r.k - c.k AS FLOAT8), CAST(count(*) AS FLOAT8)
    FROM c JOIN r ON r.u = c.u AND r.k > c.k AND r.k <= c.k + ${sqlInt(periods)} GROUP BY c.k, r.k - c.k`;
}

/** The rows of retentionSql as cohorts. */
export function cohortsOf(rows: ReadonlyArray<{ cohort: number; n: number; users: number }>, periods: number): RetentionCohort[] {
  const by = new Map<number, RetentionCohort>();
  const get = (key: number) => {
    let c = by.get(key);
    if (c === undefined) by.set(key, (c = { key, users: 0, returned: new Array<number>(periods).fill(0) }));
    return c;
  };
  for (const r of rows) {
    const c = get(Number(r.cohort));
    if (Number(r.n) === 0) c.users = Number(r.users);
    else c.returned[Number(r.n) - 1] = Number(r.users);
  }
  return [...by.values()];
}
