// `solute seed`: synthetic events written straight into the DuckDB store of a stopped server, for
// benchmarks and demos, in the order ingestion would store them (time order, 3% late by up to 6 h). Generated in SQL (INSERT ... SELECT ... FROM range(N)), so 10M events take
// seconds, not the hours the HTTP path would; they skip the log and the dedupe index (their
// messageIds, `seed-<run>-<i>`, are unique anyway).
import type { DuckDBConnection } from '@duckdb/node-api';
import { sqlInt as int, sqlString as lit } from '../sql.js';
import { addToSummaries } from './duckdb.summaries.js';

export interface SeedOptions {
  project: string;
  events: number;
  users: number;
  days: number;
  /** Timestamps fall in [now - days, now), in arrival order (seq order), a few of them late. */
  now: number;
  /** Varies the data between runs; same salt, same data. */
  salt: number;
}

export interface SeedResult {
  events: number;
  identifiedUsers: number;
  seconds: number;
}

/** ~30 event names; the first are far more frequent (index = floor(30 * x^2.5)). */
export const SEED_EVENT_NAMES = [
  'Page Scrolled', 'Product Viewed', 'Button Clicked', 'Search Performed', 'Product Added', 'Cart Viewed',
  'Video Played', 'Checkout Started', 'Signup Started', 'Form Submitted', 'Product Removed', 'Coupon Applied',
  'Order Completed', 'Signup Completed', 'Login', 'Logout', 'Review Submitted', 'Wishlist Added',
  'Share Clicked', 'Notification Opened', 'Settings Changed', 'Plan Upgraded', 'Invite Sent', 'File Uploaded',
  'Export Started', 'Payment Failed', 'Subscription Cancelled', 'Trial Started', 'Support Contacted', 'Account Deleted',
];

/**
 * The seed's event body, as SQL over the generated columns (type, event, page, user_id, anonymous_id,
 * message_id, iso, r, u): built as text, every value here being ours, free of quotes and backslashes
 * (~2x faster than json_object). DuckDB and PostgreSQL both run it (store/postgres/pg.seed.ts).
 */
export const SEED_BODY_SQL = `('{"type":"' || type || '"' || coalesce(',"event":"' || event || '"', '') ||
  CASE WHEN type = 'page' THEN ',"name":"' || page || '"' ELSE '' END ||
  coalesce(',"userId":"' || user_id || '"', '') || ',"anonymousId":"' || anonymous_id || '","messageId":"' || message_id ||
  '","timestamp":"' || iso || '","originalTimestamp":"' || iso || '","sentAt":"' || iso || '","receivedAt":"' || iso || '"' ||
  CASE type WHEN 'track' THEN ',"properties":{"value":' || (r * 100)::INTEGER || ',"currency":"USD","path":"' || page || '"}'
    WHEN 'identify' THEN ',"traits":{"plan":"' || CASE WHEN r < 0.2 THEN 'pro' ELSE 'free' END || '"}'
    WHEN 'group' THEN ',"groupId":"org_' || (u % 1000) || '"' ELSE '' END ||
  ',"context":{"library":{"name":"solute-seed","version":"1"},"page":{"path":"' || page || '"}}}')::JSON`;

// The columns the identity work adds (uhash = hash(user_id), ahash = hash(anonymous_id), identities,
// profiles): created here when this store does not have them yet, with the same definitions.
const IDENTITY_SCHEMA = `
ALTER TABLE events ADD COLUMN IF NOT EXISTS uhash UBIGINT;
ALTER TABLE events ADD COLUMN IF NOT EXISTS ahash UBIGINT;
CREATE TABLE IF NOT EXISTS identities (project VARCHAR NOT NULL, id VARCHAR NOT NULL, profile VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS profiles (project VARCHAR NOT NULL, profile VARCHAR NOT NULL, user_id VARCHAR, traits JSON, trait_ts JSON);`;

export async function seed(conn: DuckDBConnection, o: SeedOptions): Promise<SeedResult> {
  const started = performance.now();
  await conn.run(IDENTITY_SCHEMA);
  const maxSeq = Number((await conn.runAndReadAll('SELECT coalesce(max(seq), 0)::DOUBLE FROM events')).getRowsJS()[0][0]);
  const span = o.days * 86_400_000;
  const start = o.now - span;
  const names = `[${SEED_EVENT_NAMES.map(lit).join(', ')}]`;
  // x(k): a uniform number in [0, 1) per row and purpose, from DuckDB's hash (deterministic per salt).
  const x = (k: number, of = 'i') => `((hash(${of}, ${int(o.salt)}, ${k}) % 1000000) / 1000000.0)`;
  // A user is identified (has a userId) for 70% of users; an identified user's events carry the
  // userId 85% of the time (before login they are anonymous) and always the device's anonymousId.
  const identified = (u: string) => `(hash(${u}, ${int(o.salt)}, 99) % 10 < 7)`;
  await conn.run('BEGIN TRANSACTION');
  try {
    await conn.run(`
      INSERT INTO events BY NAME
      SELECT project, seq, ts, type, event, user_id, anonymous_id, message_id,
        ${SEED_BODY_SQL} AS body,
        CASE WHEN user_id IS NOT NULL THEN hash(user_id) END AS uhash,
        hash(anonymous_id) AS ahash
      FROM (SELECT *, strftime(make_timestamp(ts * 1000), '%Y-%m-%dT%H:%M:%S.%gZ') AS iso FROM (
        SELECT ${lit(o.project)} AS project, ${int(maxSeq)} + i + 1 AS seq,
          -- In arrival order, as ingestion writes them (row groups hold narrow time ranges, which DuckDB's
          -- zone maps skip): evenly spread over the span, 3% of them late by up to 6 hours.
          greatest(${int(start)}, ${int(start)} + (i * ${int(span)}) // ${int(Math.max(1, o.events))}
            - CASE WHEN hash(i, ${int(o.salt)}, 5) % 100 < 3 THEN (hash(i, ${int(o.salt)}, 8) % 21600000)::BIGINT ELSE 0 END) AS ts,
          CASE WHEN t < 0.80 THEN 'track' WHEN t < 0.92 THEN 'page' WHEN t < 0.97 THEN 'identify' ELSE 'group' END AS type,
          CASE WHEN t < 0.80 THEN ${names}[1 + floor(30 * pow(${x(4)}, 2.5))::INTEGER] END AS event,
          CASE WHEN ${identified('u')} AND ${x(2)} < 0.85 OR t >= 0.92 AND t < 0.97 AND ${identified('u')} THEN 'user_' || u END AS user_id,
          'anon_' || u AS anonymous_id,
          'seed-' || ${int(o.salt)} || '-' || i AS message_id,
          ['/', '/pricing', '/docs', '/blog', '/cart', '/checkout'][1 + (hash(i, ${int(o.salt)}, 6) % 6)::INTEGER] AS page,
          u, ${x(7)} AS r
        FROM (SELECT i, least(${int(o.users - 1)}, floor(${int(o.users)} * pow(${x(1)}, 1.5)))::BIGINT AS u, ${x(3)} AS t FROM range(${int(o.events)}) r(i))
      ))`);
    await addToSummaries(conn, `seq > ${int(maxSeq)}`);
    // Every identified user who has an event: userId and anonymousId both lead to the profile keyed by the userId.
    await conn.run(`
      CREATE TEMP TABLE seed_users AS
      SELECT DISTINCT user_id, anonymous_id FROM events WHERE project = ${lit(o.project)} AND seq > ${int(maxSeq)} AND user_id IS NOT NULL`);
    await conn.run(`
      INSERT INTO identities
      SELECT ${lit(o.project)}, id, profile FROM (
        SELECT user_id AS id, user_id AS profile FROM seed_users UNION SELECT anonymous_id, user_id FROM seed_users
      ) n ANTI JOIN (SELECT id FROM identities WHERE project = ${lit(o.project)}) d USING (id)`);
    const stamp = lit(new Date(o.now).toISOString());
    await conn.run(`
      INSERT INTO profiles (project, profile, user_id, traits, trait_ts)
      SELECT ${lit(o.project)}, user_id, user_id,
        json_object('email', user_id || '@example.com', 'plan', CASE WHEN hash(user_id) % 5 = 0 THEN 'pro' ELSE 'free' END),
        json_object('email', ${stamp}, 'plan', ${stamp})
      FROM (SELECT DISTINCT user_id FROM seed_users) n ANTI JOIN (SELECT profile FROM profiles WHERE project = ${lit(o.project)}) d ON n.user_id = d.profile`);
    // Each profile keeps the count and bytes of its linked ids (the linked-ids bounds read them).
    await conn.run(`
      UPDATE profiles SET id_count = s.n, id_bytes = s.b
      FROM (SELECT profile, count(*) AS n, sum(strlen(id)) AS b FROM identities
            WHERE project = ${lit(o.project)} AND profile IN (SELECT user_id FROM seed_users) GROUP BY profile) AS s
      WHERE profiles.project = ${lit(o.project)} AND profiles.profile = s.profile`);
    const users = Number((await conn.runAndReadAll('SELECT count(DISTINCT user_id)::DOUBLE FROM seed_users')).getRowsJS()[0][0]);
    await conn.run('DROP TABLE seed_users');
    await conn.run('COMMIT');
    await conn.run('CHECKPOINT');
    return { events: o.events, identifiedUsers: users, seconds: (performance.now() - started) / 1000 };
  } catch (err) {
    await conn.run('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
