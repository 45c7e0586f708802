// The embedded store's tables and their migrations, run at open. `schema_version` records the last
// migration applied; each migration runs in its own transaction, so a crash leaves either version.
import type { DuckDBConnection } from '@duckdb/node-api';
import { SUMMARY_TABLES, buildSummaries } from './duckdb.summaries.js';

const V1 = `
CREATE TABLE IF NOT EXISTS events (
  project VARCHAR NOT NULL,
  seq BIGINT NOT NULL,
  ts BIGINT NOT NULL,           -- corrected timestamp, epoch ms
  type VARCHAR NOT NULL,
  event VARCHAR,
  user_id VARCHAR,
  anonymous_id VARCHAR,
  message_id VARCHAR NOT NULL,
  body JSON NOT NULL            -- the stored event (as sent, plus what ingest and enrichment add)
);
CREATE TABLE IF NOT EXISTS segments (
  id BIGINT PRIMARY KEY,
  events BIGINT NOT NULL,
  dead_letters BIGINT NOT NULL,
  loaded_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letters (
  segment BIGINT NOT NULL,
  line INTEGER NOT NULL,
  step VARCHAR NOT NULL,
  reason VARCHAR NOT NULL,
  raw VARCHAR NOT NULL,
  created_at TIMESTAMP NOT NULL
);`;

/**
 * v2 (issue 5): integer hashes of the user ids, so a filter by user scans 8-byte integers instead of
 * strings; identity links, profiles, groups; dead letters get an id and their project for replay.
 */
const V2 = `
ALTER TABLE events ADD COLUMN uhash UBIGINT;
ALTER TABLE events ADD COLUMN ahash UBIGINT;
UPDATE events SET uhash = hash(user_id) WHERE user_id IS NOT NULL;
UPDATE events SET ahash = hash(anonymous_id) WHERE anonymous_id IS NOT NULL;
CREATE SEQUENCE dead_letter_ids START 1;
CREATE TABLE dead_letters_v2 (
  id BIGINT NOT NULL DEFAULT nextval('dead_letter_ids'),
  segment BIGINT NOT NULL,
  line INTEGER NOT NULL,
  project VARCHAR,
  step VARCHAR NOT NULL,
  reason VARCHAR NOT NULL,
  raw VARCHAR NOT NULL,
  created_at TIMESTAMP NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 1
);
INSERT INTO dead_letters_v2 (segment, line, project, step, reason, raw, created_at)
  SELECT segment, line, NULL, step, reason, raw, created_at FROM dead_letters ORDER BY created_at, segment, line;
DROP TABLE dead_letters;
ALTER TABLE dead_letters_v2 RENAME TO dead_letters;
CREATE TABLE identities (project VARCHAR NOT NULL, id VARCHAR NOT NULL, profile VARCHAR NOT NULL);
CREATE TABLE profiles (
  project VARCHAR NOT NULL,
  profile VARCHAR NOT NULL,
  user_id VARCHAR,
  traits JSON NOT NULL,
  trait_ts JSON NOT NULL
);
CREATE TABLE identity_warnings (
  project VARCHAR NOT NULL,
  message_id VARCHAR NOT NULL,
  kind VARCHAR NOT NULL,
  detail VARCHAR NOT NULL,
  created_at TIMESTAMP NOT NULL
);
CREATE TABLE groups (project VARCHAR NOT NULL, group_id VARCHAR NOT NULL, traits JSON NOT NULL, trait_ts JSON NOT NULL);
CREATE TABLE group_members (project VARCHAR NOT NULL, group_id VARCHAR NOT NULL, member VARCHAR NOT NULL, since BIGINT NOT NULL);`;

/**
 * v3 (issue 13, bounded state): each profile keeps the count and UTF-8 bytes of its linked ids (the
 * linked-ids bounds are checked without reading every link), profiles and groups keep a summary of
 * their warnings, and a warning says whether it is about a profile or a group.
 */
const V3 = `
ALTER TABLE profiles ADD COLUMN id_count BIGINT DEFAULT 0;
ALTER TABLE profiles ADD COLUMN id_bytes BIGINT DEFAULT 0;
ALTER TABLE profiles ADD COLUMN warnings JSON DEFAULT '{}';
UPDATE profiles SET id_count = s.n, id_bytes = s.b
  FROM (SELECT project, profile, count(*) AS n, sum(strlen(id)) AS b FROM identities GROUP BY project, profile) AS s
  WHERE profiles.project = s.project AND profiles.profile = s.profile;
ALTER TABLE groups ADD COLUMN warnings JSON DEFAULT '{}';
ALTER TABLE identity_warnings ADD COLUMN subject VARCHAR DEFAULT 'profile';`;

/**
 * v4 (issue 10): an event the bulk enrichment rule covers (log format v2, `c` = 1) is stored as the edge
 * wrote it, and what enrichment adds is kept beside it: `ip` (its context.ip) and `ua` (its
 * context.userAgent, parsed once per distinct value into `user_agents`). Reads merge them back
 * (duckdb.enriched.ts); other events hold their enrichment in the body, with ip and ua NULL.
 */
const V4 = `
ALTER TABLE events ADD COLUMN ip VARCHAR;
ALTER TABLE events ADD COLUMN ua VARCHAR;
CREATE TABLE user_agents (ua VARCHAR PRIMARY KEY, browser JSON, os JSON, device JSON);`;

/**
 * v5 (issue 11): the summaries the processor keeps beside the events (duckdb.summaries.ts), built here
 * for the events already stored.
 */
async function V5(db: DuckDBConnection): Promise<void> {
  await db.run(SUMMARY_TABLES);
  await buildSummaries(db);
}

const MIGRATIONS: Array<string | ((db: DuckDBConnection) => Promise<void>)> = [V1, V2, V3, V4, V5];

/** Applies the migrations the store lacks, up to `target` (tests stop early to make an older store). */
export async function migrate(db: DuckDBConnection, target = MIGRATIONS.length): Promise<void> {
  await db.run('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
  const r = await db.runAndReadAll('SELECT coalesce(max(version), 0) FROM schema_version');
  let version = Number(r.getRowsJS()[0][0]);
  if (version === 0) {
    // A store made before schema_version existed holds v1 already (its tables are created IF NOT EXISTS).
    const old = await db.runAndReadAll("SELECT count(*) FROM information_schema.tables WHERE table_name = 'segments'");
    if (Number(old.getRowsJS()[0][0]) > 0) version = 1;
    if (version === 1) await db.run('INSERT INTO schema_version VALUES (1)');
  }
  for (let v = version; v < target; v++) {
    await db.run('BEGIN TRANSACTION');
    try {
      const step = MIGRATIONS[v];
      await (typeof step === 'string' ? db.run(step) : step(db));
      await db.run('INSERT INTO schema_version VALUES ($1)', [v + 1]);
      await db.run('COMMIT');
    } catch (err) {
      await db.run('ROLLBACK').catch(() => undefined);
      throw new Error(`store migration to version ${v + 1} failed: ${(err as Error).message}`);
    }
  }
}
