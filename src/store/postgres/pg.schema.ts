// The PostgreSQL store's tables and their migrations, run at open under a session advisory lock, so
// several processes starting at once migrate once. `schema_version` records each migration applied;
// each runs in its own transaction with its version row, so a crash leaves either version.
import type pg from 'pg';

/**
 * v1: everything the embedded store holds. Text columns that sort or page use the "C" collation
 * (byte order, as DuckDB); all strings are stored through pg.text.ts (NUL encoded).
 */
const V1 = `
CREATE TABLE events (
  id BIGSERIAL PRIMARY KEY,            -- insertion order: the tie-break and cursor after ts (seq is per ingest node)
  project TEXT COLLATE "C" NOT NULL,
  message_id TEXT COLLATE "C" NOT NULL,
  seq BIGINT NOT NULL,
  ts BIGINT NOT NULL,                  -- corrected timestamp, epoch ms
  type TEXT COLLATE "C" NOT NULL,
  event TEXT COLLATE "C",
  user_id TEXT COLLATE "C",
  anonymous_id TEXT COLLATE "C",
  body JSON NOT NULL,                  -- the stored event, its text kept as written (key order included)
  CONSTRAINT events_dedupe UNIQUE (project, message_id)
);
CREATE INDEX events_by_ts ON events (project, ts, id);
CREATE INDEX events_by_user ON events (project, user_id, ts, id) WHERE user_id IS NOT NULL;
CREATE INDEX events_by_anonymous ON events (project, anonymous_id, ts, id) WHERE anonymous_id IS NOT NULL;
CREATE INDEX events_by_event ON events (project, event, ts, id) WHERE event IS NOT NULL;
CREATE TABLE segments (
  source TEXT COLLATE "C" NOT NULL DEFAULT '',  -- the log the batch came from (a JetStream stream's name and creation time)
  id BIGINT NOT NULL,                  -- a batch id in that log (segment id, or JetStream stream sequence), committed once
  events BIGINT NOT NULL,
  dead_letters BIGINT NOT NULL,
  loaded_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (source, id)
);
CREATE TABLE dead_letters (
  id BIGSERIAL PRIMARY KEY,
  segment BIGINT NOT NULL,
  line INTEGER NOT NULL,
  project TEXT COLLATE "C",
  step TEXT NOT NULL,
  reason TEXT NOT NULL,
  raw TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  attempts INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX dead_letters_by_project ON dead_letters (project, id);
CREATE TABLE identities (
  project TEXT COLLATE "C" NOT NULL,
  id TEXT COLLATE "C" NOT NULL,
  profile TEXT COLLATE "C" NOT NULL,
  PRIMARY KEY (project, id)
);
CREATE INDEX identities_by_profile ON identities (project, profile, id);
CREATE TABLE profiles (
  project TEXT COLLATE "C" NOT NULL,
  profile TEXT COLLATE "C" NOT NULL,
  user_id TEXT COLLATE "C",
  traits JSON NOT NULL,
  trait_ts JSON NOT NULL,
  PRIMARY KEY (project, profile)
);
CREATE TABLE identity_warnings (
  id BIGSERIAL PRIMARY KEY,
  project TEXT COLLATE "C" NOT NULL,
  message_id TEXT COLLATE "C" NOT NULL,
  kind TEXT NOT NULL,
  detail TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE groups (
  project TEXT COLLATE "C" NOT NULL,
  group_id TEXT COLLATE "C" NOT NULL,
  traits JSON NOT NULL,
  trait_ts JSON NOT NULL,
  PRIMARY KEY (project, group_id)
);
CREATE TABLE group_members (
  project TEXT COLLATE "C" NOT NULL,
  group_id TEXT COLLATE "C" NOT NULL,
  member TEXT COLLATE "C" NOT NULL,
  since BIGINT NOT NULL,
  PRIMARY KEY (project, group_id, member)
);`;

/**
 * v2 (issue 13, bounded state): each profile keeps the count and UTF-8 bytes of its linked ids (the
 * linked-ids bounds are checked without reading every link; ids holding U+0000/U+0001 are counted in
 * their stored form, pg.text.ts, a byte or two more), profiles and groups keep a summary of their
 * warnings, and a warning says whether it is about a profile or a group.
 */
const V2 = `
ALTER TABLE profiles ADD COLUMN id_count BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN id_bytes BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN warnings JSON NOT NULL DEFAULT '{}';
UPDATE profiles p SET id_count = s.n, id_bytes = s.b
  FROM (SELECT project, profile, count(*) AS n, sum(octet_length(id)) AS b FROM identities GROUP BY project, profile) AS s
  WHERE p.project = s.project AND p.profile = s.profile;
ALTER TABLE groups ADD COLUMN warnings JSON NOT NULL DEFAULT '{}';
ALTER TABLE identity_warnings ADD COLUMN subject TEXT NOT NULL DEFAULT 'profile';`;

/**
 * v3 (issue 12, processors that do not parse): `enrich` holds what the enrich step appends to the
 * context of an event the bulk rule covers (contracts/event-store.ts ContextAdditions, as a JSON
 * object in that key order), the body being the event as the edge wrote it; null when the body is
 * the stored event whole (the per-event path, and every row written before). Reads merge it back
 * (pg.enriched.ts). A nullable column without a default: added without rewriting the table.
 */
const V3 = `ALTER TABLE events ADD COLUMN enrich JSON;`;

const MIGRATIONS = [V1, V2, V3];

/** Creates the schema if needed and applies the migrations it lacks, up to `target` (tests stop early), one process at a time. */
export async function migrate(pool: pg.Pool, schema: string, target = MIGRATIONS.length): Promise<void> {
  const c = await pool.connect();
  try {
    await c.query(`SELECT pg_advisory_lock(hashtextextended($1, 0))`, [`solute.migrate:${schema}`]);
    try {
      await c.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
      await c.query('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())');
      const r = await c.query<{ v: number }>('SELECT coalesce(max(version), 0)::int AS v FROM schema_version');
      for (let v = r.rows[0].v; v < target; v++) {
        await c.query('BEGIN');
        try {
          await c.query(MIGRATIONS[v]);
          await c.query('INSERT INTO schema_version (version) VALUES ($1)', [v + 1]);
          await c.query('COMMIT');
        } catch (err) {
          await c.query('ROLLBACK').catch(() => undefined);
          throw new Error(`store migration to version ${v + 1} failed: ${(err as Error).message}`);
        }
      }
    } finally {
      await c.query(`SELECT pg_advisory_unlock(hashtextextended($1, 0))`, [`solute.migrate:${schema}`]).catch(() => undefined);
    }
  } finally {
    c.release();
  }
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
