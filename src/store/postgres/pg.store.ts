// The PostgreSQL store: the same port as the embedded DuckDB store (events, dedupe, dead letters,
// profiles, groups) for several ingest/processing nodes sharing one database. Every batch commits in
// one transaction, once (its id in `segments`); events are deduplicated exactly, across all nodes and
// for all time, by the UNIQUE (project, message_id) constraint and INSERT ... ON CONFLICT DO NOTHING.
import pg from 'pg';
import type {
  BatchSteps,
  CommitOptions,
  DeadLetter,
  DeadLetterFilter,
  DeadLetterInput,
  EventFilter,
  EventPage,
  EventStore,
  LoadResult,
  ProcessedLine,
  ReplayResult,
  StoreBatch,
} from '../../contracts/event-store.js';
import type { Group, Profile, ProfileReader, ProfileSearch, ProfileSummary } from '../../contracts/profiles.js';
import { migrate } from './pg.schema.js';
import { applyStatefulSteps, underSavepoint } from './pg.state.js';
import { withWarnings } from '../stateful-lines.js';
import { readGroup, readProfile, searchProfiles } from './pg.profiles.js';
import { dec, decJson, decNull, enc, encJson, encNull } from './pg.text.js';
import { pgStats } from './pg.stats.js';
import type { StatsStore } from '../../contracts/stats-store.js';

export interface PgStoreOptions {
  /** The schema holding the tables (created if missing); default `public`. Lower-case letters, digits, `_`. */
  schema?: string;
  /** Pool size; default 4. */
  maxConnections?: number;
}

/** Rows per INSERT: 9 array parameters whatever the count; 1000 keeps a statement's memory small. */
const CHUNK = 1000;
/** Deadlocks and serialization failures: the transaction is redone from the start. */
const RETRYABLE = new Set(['40P01', '40001']);
const MAX_ATTEMPTS = 5;

const INSERT_EVENTS = `INSERT INTO events (project, message_id, seq, ts, type, event, user_id, anonymous_id, body)
  SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[], $9::json[])
  ON CONFLICT (project, message_id) DO NOTHING`;

export class PgStore implements EventStore, ProfileReader {
  private closing: Promise<void> | null = null;

  private constructor(private readonly pool: pg.Pool) {}

  static async open(url: string, opts: PgStoreOptions = {}): Promise<PgStore> {
    const schema = opts.schema ?? 'public';
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`PostgreSQL schema name must be lower-case letters, digits and _: ${schema}`);
    const pool = new pg.Pool({ connectionString: url, max: opts.maxConnections ?? 4, options: `-c search_path=${schema}` });
    // An idle client's connection error (server restart) must not crash the process; the next query reconnects.
    pool.on('error', () => undefined);
    try {
      await migrate(pool, schema);
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw err;
    }
    return new PgStore(pool);
  }

  async lastSegmentId(): Promise<number> {
    return this.scalar("SELECT coalesce(max(id), 0)::float8 AS v FROM segments WHERE source = ''");
  }

  async maxSeq(): Promise<number> {
    return this.scalar('SELECT coalesce(max(seq), 0)::float8 AS v FROM events');
  }

  async countEvents(): Promise<number> {
    return this.scalar('SELECT count(*)::float8 AS v FROM events');
  }

  async commitBatch(batch: StoreBatch, steps: BatchSteps, opts: CommitOptions = {}): Promise<LoadResult> {
    return this.transaction(async (c) => {
      // Claims the batch id first: a second committer of the same batch waits here for the first, then finds it done.
      const source = batch.source ?? '';
      const claim = await c.query('INSERT INTO segments (source, id, events, dead_letters) VALUES ($1, $2, 0, 0) ON CONFLICT (source, id) DO NOTHING', [source, batch.segment]);
      if (claim.rowCount === 0) return { stored: 0, deadLettered: 0 };
      const { keep, dead, warnings } = await applyStatefulSteps(c, batch.segment, batch.lines, steps);
      const stored = await insertEvents(c, batch.segment, keep, dead);
      const deadLetters = [...batch.deadLetters, ...dead];
      await insertDeadLetters(c, deadLetters);
      await c.query('UPDATE segments SET events = $3, dead_letters = $4 WHERE source = $1 AND id = $2', [source, batch.segment, stored, deadLetters.length]);
      return withWarnings({ stored, deadLettered: deadLetters.length }, warnings);
    }, opts.dryRun === true);
  }

  async commitReplay(
    lines: Array<ProcessedLine & { deadLetterId: number }>,
    failed: Array<{ deadLetterId: number; step: string; reason: string }>,
    steps: BatchSteps,
  ): Promise<ReplayResult> {
    return this.transaction(async (c) => {
      const wanted = [...lines.map((l) => l.deadLetterId), ...failed.map((f) => f.deadLetterId)].map((id) => Math.floor(Number(id)));
      // FOR UPDATE: two replays of the same dead letters at once store them once.
      const r = await c.query<{ id: number }>('SELECT id::float8 AS id FROM dead_letters WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE', [wanted]);
      const present = new Set(r.rows.map((row) => row.id));
      const live = lines.filter((l) => present.has(l.deadLetterId));
      const again = failed.filter((f) => present.has(f.deadLetterId));
      const { keep, dead } = await applyStatefulSteps(c, -1, live, steps);
      const dead2: DeadLetterInput[] = [];
      const stored = await insertEvents(c, -1, keep, dead2);
      for (const d of [...dead, ...dead2]) {
        const pl = live.find((l) => l.raw === d.raw && l.index === d.index);
        if (pl) again.push({ deadLetterId: pl.deadLetterId, step: d.step, reason: d.reason });
      }
      const againIds = new Set(again.map((a) => a.deadLetterId));
      const storedIds = live.map((l) => l.deadLetterId).filter((id) => !againIds.has(id));
      if (storedIds.length > 0) await c.query('DELETE FROM dead_letters WHERE id = ANY($1::bigint[])', [storedIds]);
      for (const a of again) {
        await c.query('UPDATE dead_letters SET step = $1, reason = $2, attempts = attempts + 1 WHERE id = $3', [a.step, enc(a.reason), a.deadLetterId]);
      }
      return { stored, failed: again.length, missing: wanted.length - present.size };
    });
  }

  async queryEvents(project: string, f: EventFilter): Promise<EventPage> {
    const params: unknown[] = [enc(project)];
    const where = ['project = $1'];
    const add = (sql: (n: string) => string, v: unknown) => {
      params.push(v);
      where.push(sql(`$${params.length}`));
    };
    const eq = (col: string, v: string | undefined) => {
      if (typeof v === 'string') add((n) => `${col} = ${n}`, enc(v));
    };
    eq('type', f.type);
    eq('event', f.event);
    eq('user_id', f.userId);
    eq('anonymous_id', f.anonymousId);
    eq('message_id', f.messageId);
    if (f.from !== undefined) add((n) => `ts >= ${n}`, f.from);
    if (f.to !== undefined) add((n) => `ts < ${n}`, f.to);
    if (f.cursor) {
      params.push(f.cursor.t, f.cursor.s);
      where.push(`(ts, id) < ($${params.length - 1}::bigint, $${params.length}::bigint)`);
    }
    const rows = await this.pool.query<{ body: string; t: number; s: number }>(
      `SELECT body::text AS body, ts::float8 AS t, id::float8 AS s FROM events WHERE ${where.join(' AND ')} ORDER BY ts DESC, id DESC LIMIT ${Math.floor(f.limit) + 1}`,
      params,
    );
    const more = rows.rows.length > f.limit;
    const page = more ? rows.rows.slice(0, f.limit) : rows.rows;
    const last = page.at(-1);
    return {
      events: page.map((r) => decJson<Record<string, unknown>>(r.body)),
      next: more && last ? { t: last.t, s: last.s } : null,
    };
  }

  async deadLetters(filter: DeadLetterFilter): Promise<DeadLetter[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.ids !== undefined) (params.push(filter.ids.map((id) => Math.floor(Number(id)))), where.push(`id = ANY($${params.length}::bigint[])`));
    if (filter.project !== undefined) (params.push(enc(filter.project)), where.push(`project = $${params.length}`));
    if (filter.afterId !== undefined) (params.push(filter.afterId), where.push(`id > $${params.length}`));
    const r = await this.pool.query<{ id: number; segment: number; index: number; project: string | null; step: string; reason: string; raw: string; createdAt: string; attempts: number }>(
      `SELECT id::float8 AS id, segment::float8 AS segment, line AS "index", project, step, reason, raw,
         to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') AS "createdAt", attempts
       FROM dead_letters ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id LIMIT ${Math.max(1, Math.floor(filter.limit))}`,
      params,
    );
    return r.rows.map((d) => ({ ...d, project: decNull(d.project), reason: dec(d.reason), raw: dec(d.raw) }));
  }

  profile(project: string, id: string, recent: number): Promise<Profile | null> {
    return readProfile(this.pool, project, id, recent);
  }

  profiles(project: string, search: ProfileSearch): Promise<{ profiles: ProfileSummary[]; next: string | null }> {
    return searchProfiles(this.pool, project, search);
  }

  group(project: string, groupId: string, members: { limit: number; after?: string }): Promise<Group | null> {
    return readGroup(this.pool, project, groupId, members);
  }

  /** The stats queries over this store's events (contracts/stats-store.ts). */
  stats(): StatsStore {
    return pgStats(this.pool);
  }

  /** Idempotent; a second call waits for the first. */
  close(): Promise<void> {
    this.closing ??= this.pool.end();
    return this.closing;
  }

  /**
   * Runs fn in a transaction on one pooled client, redoing it on a deadlock or serialization failure;
   * rolled back at the end when `dryRun` (its result is returned all the same).
   */
  private async transaction<T>(fn: (c: pg.PoolClient) => Promise<T>, dryRun = false): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const c = await this.pool.connect();
      let broken = false;
      try {
        await c.query('BEGIN');
        const result = await fn(c);
        await c.query(dryRun ? 'ROLLBACK' : 'COMMIT');
        return result;
      } catch (err) {
        await c.query('ROLLBACK').catch(() => {
          broken = true;
        });
        const code = (err as { code?: string }).code;
        if (attempt < MAX_ATTEMPTS && code !== undefined && RETRYABLE.has(code)) continue;
        throw err;
      } finally {
        c.release(broken);
      }
    }
  }

  private async scalar(sql: string): Promise<number> {
    const r = await this.pool.query<{ v: number }>(sql);
    return Number(r.rows[0].v);
  }
}

function columns(lines: readonly ProcessedLine[]): unknown[][] {
  const cols: unknown[][] = [[], [], [], [], [], [], [], [], []];
  for (const { line: l } of lines) {
    cols[0].push(enc(l.p));
    cols[1].push(enc(l.m));
    cols[2].push(l.s);
    cols[3].push(l.t);
    cols[4].push(enc(l.y));
    cols[5].push(encNull(l.n));
    cols[6].push(encNull(l.u));
    cols[7].push(encNull(l.a));
    cols[8].push(encJson(l.e));
  }
  return cols;
}

/**
 * Inserts the lines as events, in line order (so `id`, the tie-break after ts, follows the log), in
 * chunks of one INSERT each (9 array parameters); a chunk the database refuses as data (a value
 * too large for an index, say) is redone row by row, each refused row going to `dead` with step 'store'. Returns the rows inserted (a
 * message id already stored, by any node, is skipped).
 */
async function insertEvents(c: pg.ClientBase, segment: number, lines: ProcessedLine[], dead: DeadLetterInput[]): Promise<number> {
  let stored = 0;
  for (let i = 0; i < lines.length; i += CHUNK) {
    const chunk = lines.slice(i, i + CHUNK);
    const n = await underSavepoint(c, async () => (await c.query(INSERT_EVENTS, columns(chunk))).rowCount ?? 0);
    if (typeof n === 'number') {
      stored += n;
      continue;
    }
    for (const pl of chunk) {
      const one = await underSavepoint(c, async () => (await c.query(INSERT_EVENTS, columns([pl]))).rowCount ?? 0);
      if (typeof one === 'number') stored += one;
      else dead.push({ segment, index: pl.index, project: pl.line.p, step: 'store', reason: one.message, raw: pl.raw });
    }
  }
  return stored;
}

async function insertDeadLetters(c: pg.ClientBase, dead: DeadLetterInput[]): Promise<void> {
  if (dead.length === 0) return;
  await c.query(
    `INSERT INTO dead_letters (segment, line, project, step, reason, raw)
     SELECT * FROM unnest($1::bigint[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[])`,
    [dead.map((d) => d.segment), dead.map((d) => d.index), dead.map((d) => encNull(d.project)), dead.map((d) => d.step), dead.map((d) => enc(d.reason)), dead.map((d) => enc(d.raw))],
  );
}
