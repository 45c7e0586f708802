// `solute seed` on the PostgreSQL store (SOLUTE_STORE=postgres://...): the same synthetic events as
// the embedded store's seed (store/duckdb/seed.ts: names, mix, users, arrival order), generated in
// SQL by generate_series, in one transaction, so a cluster's queries can be measured too.
import type pg from 'pg';
import { SEED_BODY_SQL, SEED_EVENT_NAMES, type SeedOptions, type SeedResult } from '../duckdb/seed.js';
import { sqlInt as int, sqlString as lit } from '../sql.js';

export async function seedPg(pool: pg.Pool, o: SeedOptions): Promise<SeedResult> {
  const started = performance.now();
  const c = await pool.connect();
  try {
    const maxSeq = Number((await c.query<{ v: number }>('SELECT coalesce(max(seq), 0)::float8 AS v FROM events')).rows[0].v);
    const span = o.days * 86_400_000;
    const start = o.now - span;
    const names = `ARRAY[${SEED_EVENT_NAMES.map(lit).join(', ')}]`;
    // x(k): a uniform number in [0, 1) per row and purpose (deterministic per salt).
    const x = (k: number, of = 'i') => `((abs(hashint8extended(${of}, ${int(o.salt * 100 + k)})) % 1000000) / 1000000.0)`;
    // 70% of users are identified; their events carry the userId 85% of the time (always the anonymousId).
    const identified = (u: string) => `(abs(hashint8extended(${u}, ${int(o.salt * 100 + 99)})) % 10 < 7)`;
    await c.query('BEGIN');
    await c.query(`
      INSERT INTO events (project, message_id, seq, ts, type, event, user_id, anonymous_id, body)
      SELECT project, message_id, seq, ts, type, event, user_id, anonymous_id,
        ${SEED_BODY_SQL}
      FROM (SELECT *, to_char(to_timestamp(ts / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS iso FROM (
        SELECT ${lit(o.project)} AS project, ${int(maxSeq)} + i + 1 AS seq,
          -- In arrival order, 3% late by up to 6 hours (as the embedded seed).
          greatest(${int(start)}, ${int(start)} + (i * ${int(span)}) / ${int(Math.max(1, o.events))}
            - CASE WHEN abs(hashint8extended(i, ${int(o.salt * 100 + 5)})) % 100 < 3 THEN abs(hashint8extended(i, ${int(o.salt * 100 + 8)})) % 21600000 ELSE 0 END) AS ts,
          CASE WHEN t < 0.80 THEN 'track' WHEN t < 0.92 THEN 'page' WHEN t < 0.97 THEN 'identify' ELSE 'group' END AS type,
          CASE WHEN t < 0.80 THEN (${names})[1 + floor(30 * power(${x(4)}, 2.5))::int] END AS event,
          CASE WHEN ${identified('u')} AND ${x(2)} < 0.85 OR t >= 0.92 AND t < 0.97 AND ${identified('u')} THEN 'user_' || u END AS user_id,
          'anon_' || u AS anonymous_id,
          'seed-' || ${int(o.salt)} || '-' || i AS message_id,
          (ARRAY['/', '/pricing', '/docs', '/blog', '/cart', '/checkout'])[1 + (abs(hashint8extended(i, ${int(o.salt * 100 + 6)})) % 6)::int] AS page,
          u, ${x(7)} AS r
        FROM (SELECT i, least(${int(o.users - 1)}, floor(${int(o.users)} * power(${x(1)}, 1.5)))::bigint AS u, ${x(3)} AS t
              FROM generate_series(0::bigint, ${int(o.events - 1)}) AS g(i)) AS a
      ) AS b) AS d
      ORDER BY seq`);
    await c.query(`
      CREATE TEMP TABLE seed_users ON COMMIT DROP AS
      SELECT DISTINCT user_id, anonymous_id FROM events WHERE project = ${lit(o.project)} AND seq > ${int(maxSeq)} AND user_id IS NOT NULL`);
    await c.query(`
      INSERT INTO identities (project, id, profile)
      SELECT ${lit(o.project)}, id, profile FROM (SELECT user_id AS id, user_id AS profile FROM seed_users UNION SELECT anonymous_id, user_id FROM seed_users) n
      ON CONFLICT (project, id) DO NOTHING`);
    const stamp = lit(new Date(o.now).toISOString());
    await c.query(`
      INSERT INTO profiles (project, profile, user_id, traits, trait_ts)
      SELECT ${lit(o.project)}, user_id, user_id,
        json_build_object('email', user_id || '@example.com', 'plan', CASE WHEN abs(hashtext(user_id)) % 5 = 0 THEN 'pro' ELSE 'free' END),
        json_build_object('email', ${stamp}, 'plan', ${stamp})
      FROM (SELECT DISTINCT user_id FROM seed_users) n
      ON CONFLICT (project, profile) DO NOTHING`);
    await c.query(`
      UPDATE profiles p SET id_count = s.n, id_bytes = s.b
      FROM (SELECT profile, count(*) AS n, sum(octet_length(id)) AS b FROM identities
            WHERE project = ${lit(o.project)} AND profile IN (SELECT user_id FROM seed_users) GROUP BY profile) AS s
      WHERE p.project = ${lit(o.project)} AND p.profile = s.profile`);
    const users = Number((await c.query<{ n: number }>('SELECT count(DISTINCT user_id)::float8 AS n FROM seed_users')).rows[0].n);
    await c.query('COMMIT');
    // Fresh statistics: the planner picks the indexes for the new rows at once.
    await c.query('ANALYZE events');
    return { events: o.events, identifiedUsers: users, seconds: (performance.now() - started) / 1000 };
  } catch (err) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    c.release();
  }
}
