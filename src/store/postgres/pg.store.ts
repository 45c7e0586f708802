// The PostgreSQL store: the same port as the embedded DuckDB store (events, dedupe, dead letters,
// profiles, groups) for several ingest/processing nodes sharing one database. Every batch commits in
// one transaction, once (its id in `segments`); events are deduplicated exactly, across all nodes and
// for all time, by the UNIQUE (project, message_id) constraint and INSERT ... ON CONFLICT DO NOTHING.
import pg from 'pg';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import type {
  BatchSteps,
  CommitOptions,
  ContextAdditions,
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
import { isStatefulType, withWarnings } from '../stateful-lines.js';
import { EVENT_NOT_HELD } from '../../contracts/log-line.js';
import { readGroup, readProfile, searchProfiles } from './pg.profiles.js';
import { ENRICHED_COLUMNS, storedEvent, type EnrichedRow } from './pg.enriched.js';
import { dec, decNull, enc, encJson, encNull } from './pg.text.js';
import { pgStats } from './pg.stats.js';
import type { StatsStore } from '../../contracts/stats-store.js';

export interface PgStoreOptions {
  /** The schema holding the tables (created if missing); default `public`. Lower-case letters, digits, `_`. */
  schema?: string;
  /** Pool size; default 4. */
  maxConnections?: number;
}

/** Rows per INSERT: one JSON parameter of about 1 KB a row; 2000 keeps a statement's memory small. */
const CHUNK = 2000;
/** Deadlocks and serialization failures: the transaction is redone from the start. */
const RETRYABLE = new Set(['40P01', '40001']);
const MAX_ATTEMPTS = 5;

/**
 * The end of both insert statements: the rows of `rows` (a CTE or table with the events' columns,
 * their segment and their order `o`) into events in order, skipping a message id already there, and
 * the rows inserted counted per segment (a message id twice in `rows` counts for its first row).
 */
function insertCounted(rows: string, body: string, enrich: string): string {
  return `ins AS (
    INSERT INTO events (project, message_id, seq, ts, type, event, user_id, anonymous_id, body, enrich)
    SELECT project, message_id, seq, ts, type, event, user_id, anonymous_id, ${body}, ${enrich} FROM ${rows} ORDER BY o
    ON CONFLICT (project, message_id) DO NOTHING
    RETURNING project, message_id)
  SELECT f.segment::float8 AS segment, count(*)::float8 AS n
  FROM ins JOIN (SELECT DISTINCT ON (project, message_id) project, message_id, segment FROM ${rows} ORDER BY project, message_id, o) f USING (project, message_id)
  GROUP BY f.segment`;
}

/**
 * One chunk of the fallback path: the rows come as one JSON array (one parameter, parsed by
 * PostgreSQL's own JSON parser): each event's body is written into it as the JSON it is.
 */
const INSERT_EVENTS = `WITH r AS (
    SELECT * FROM ROWS FROM (json_to_recordset($1::json) AS (p text, m text, s bigint, t bigint, y text, n text, u text, a text, e json, x json, g bigint))
      WITH ORDINALITY AS x(project, message_id, seq, ts, type, event, user_id, anonymous_id, body, enrich, segment, o)),
  ${insertCounted('r', 'body', 'enrich')}`;

export class PgStore implements EventStore, ProfileReader {
  /** Several processors commit at once anyway; one process's groups may too (pooled connections). */
  readonly concurrentCommits = true;

  /** Bulk-rule lines come unparsed, their enrichment stored in `events.enrich` (pg.enriched.ts). */
  readonly keepsEnrichmentBeside = true;

  /**
   * The body's JSON text, made while the parsed event is young; the parsed event of a line that the
   * stateful steps do not read (not identify, alias or group) is let go. (Unparsed bulk-rule lines
   * come with their text and never get here: process/pipeline.ts.)
   */
  encodeLine(pl: ProcessedLine): void {
    pl.encoded = encJson(pl.line.e);
    if (!isStatefulType(pl.line.y)) pl.line.e = EVENT_NOT_HELD;
  }
  private closing: Promise<void> | null = null;
  /** Whether the next groups try COPY straight into events (bulkInsertEvents). */
  private readonly direct: DirectCopy = { skip: 0 };

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

  commitBatch(batch: StoreBatch, steps: BatchSteps, opts: CommitOptions = {}): Promise<LoadResult> {
    return this.commitBatches([batch], steps, opts);
  }

  /**
   * Several batches of one log in one transaction: each claimed once (a batch committed before, by any
   * node, is skipped), their lines through the stateful steps together, their events in bulk, and each
   * batch's own counts in `segments`.
   */
  async commitBatches(batches: readonly StoreBatch[], steps: BatchSteps, opts: CommitOptions = {}): Promise<LoadResult> {
    if (batches.length === 0) return { stored: 0, deadLettered: 0 };
    const source = batches[0].source ?? '';
    if (batches.some((b) => (b.source ?? '') !== source)) throw new Error('commitBatches: batches of one log only');
    return this.transaction(async (c) => {
      // Claims the batch ids first: a second committer of one of them waits here for the first, then finds it done.
      const claim = await c.query<{ id: number }>(
        'INSERT INTO segments (source, id, events, dead_letters) SELECT $1, unnest($2::bigint[]), 0, 0 ON CONFLICT (source, id) DO NOTHING RETURNING id::float8 AS id',
        [source, batches.map((b) => b.segment)],
      );
      if (claim.rowCount === 0) return { stored: 0, deadLettered: 0 };
      const claimed = new Set(claim.rows.map((r) => r.id));
      const todo = batches.filter((b) => claimed.has(b.segment));
      const lines: ProcessedLine[] = [];
      for (const b of todo) {
        // The batch's own lines (BatchLoader.prepare made them for this batch): marked in place, not copied.
        for (const pl of b.lines) {
          if (pl.segment !== b.segment) pl.segment = b.segment;
          lines.push(pl);
        }
      }
      const { keep, dead, warnings } = await applyStatefulSteps(c, todo[0].segment, lines, steps);
      const storedBy = await bulkInsertEvents(c, todo[0].segment, keep, dead, this.direct);
      const deadLetters = [...todo.flatMap((b) => b.deadLetters), ...dead];
      await insertDeadLetters(c, deadLetters);
      const deadBy = new Map<number, number>();
      for (const d of deadLetters) deadBy.set(d.segment, (deadBy.get(d.segment) ?? 0) + 1);
      await c.query(
        `UPDATE segments s SET events = u.e, dead_letters = u.d FROM unnest($2::bigint[], $3::bigint[], $4::bigint[]) AS u(id, e, d)
         WHERE s.source = $1 AND s.id = u.id`,
        [source, todo.map((b) => b.segment), todo.map((b) => storedBy.get(b.segment) ?? 0), todo.map((b) => deadBy.get(b.segment) ?? 0)],
      );
      let stored = 0;
      for (const n of storedBy.values()) stored += n;
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
      const stored = sum(await insertEvents(c, -1, keep, dead2));
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
    const rows = await this.pool.query<EnrichedRow & { t: number; s: number }>(
      `SELECT ${ENRICHED_COLUMNS}, ts::float8 AS t, id::float8 AS s FROM events WHERE ${where.join(' AND ')} ORDER BY ts DESC, id DESC LIMIT ${Math.floor(f.limit) + 1}`,
      params,
    );
    const more = rows.rows.length > f.limit;
    const page = more ? rows.rows.slice(0, f.limit) : rows.rows;
    const last = page.at(-1);
    return {
      events: page.map(storedEvent),
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

/**
 * The staging table of the bulk path: this connection's own (TEMP), emptied at every commit. COPY
 * fills it (PostgreSQL parses COPY text far faster than a JSON or array parameter), then one
 * INSERT ... SELECT moves the rows into events with the dedupe of ON CONFLICT.
 */
const STAGE = `CREATE TEMP TABLE IF NOT EXISTS solute_stage (
  project TEXT, message_id TEXT, seq BIGINT, ts BIGINT, type TEXT, event TEXT, user_id TEXT, anonymous_id TEXT, body TEXT, enrich TEXT, segment BIGINT, o BIGINT
) ON COMMIT DELETE ROWS`;

const INSERT_STAGED = `WITH ${insertCounted('solute_stage', 'body::json', 'enrich::json')}`;

/**
 * The direct path: COPY straight into events, every row inserted. It fails as a whole (under a
 * savepoint, so nothing of it stays) when one message id is already stored or comes twice; the group
 * then takes the staged path, and so do the next DIRECT_COOLDOWN groups of this store (duplicates come
 * in runs: a client retrying, a replayed backlog), before the direct path is tried again.
 */
const COPY_EVENTS = 'COPY events (project, message_id, seq, ts, type, event, user_id, anonymous_id, body, enrich) FROM STDIN';
const DIRECT_COOLDOWN = 16;

/** The direct path's state, one per store: how many groups still skip it. */
interface DirectCopy {
  skip: number;
}

const COPY_SPECIAL = /[\\\t\n\r]/;
const COPY_SPECIAL_ALL = /[\\\t\n\r]/g;
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** `body` of a line as JSON text: what encodeLine or the pipeline left, else made now. */
function bodyJson(pl: ProcessedLine): string {
  return pl.encoded ?? encJson(pl.line.e);
}

/**
 * `enrich` of a line as JSON text (pg.schema.ts v3), or null. The lines of one request share their
 * additions (process/pipeline.ts hands out one object while IP and user agent repeat): encoded once.
 */
const addedJsonOf = new WeakMap<ContextAdditions, string>();
function addedJson(pl: ProcessedLine): string | null {
  const added = pl.added;
  if (added === undefined) return null;
  let json = addedJsonOf.get(added);
  if (json === undefined) addedJsonOf.set(added, (json = encJson(added)));
  return json;
}

/** `enrich` of a line in COPY's text format. */
function addedText(pl: ProcessedLine): string {
  const json = addedJson(pl);
  return json === null ? '\\N' : copyText(json);
}

/** A value in COPY's text format (NUL never occurs: enc maps it away). */
function copyText(v: string): string {
  return COPY_SPECIAL.test(v) ? v.replace(COPY_SPECIAL_ALL, (ch) => COPY_ESCAPES[ch]) : v;
}

function copyNull(v: string | null | undefined): string {
  return v === null || v === undefined ? '\\N' : copyText(enc(v));
}

/**
 * The lines as COPY text, ~1000 rows a chunk: the events' columns, then (`staged`) the staging
 * table's segment and order.
 */
function* copyChunks(lines: readonly ProcessedLine[], segment: number, staged: boolean): Generator<string> {
  // Pieces joined once per chunk: a flat string, cheaper to encode than one grown by +=.
  let parts: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const pl = lines[i];
    const l = pl.line;
    parts.push(
      `${copyText(enc(l.p))}\t${copyText(enc(l.m))}\t${l.s}\t${l.t}\t${copyText(enc(l.y))}\t${copyNull(l.n)}\t${copyNull(l.u)}\t${copyNull(l.a)}\t`,
      copyText(bodyJson(pl)),
      `\t${addedText(pl)}${staged ? `\t${pl.segment ?? segment}\t${i}` : ''}\n`,
    );
    if (i % 1000 === 999) {
      yield parts.join('');
      parts = [];
    }
  }
  if (parts.length > 0) yield parts.join('');
}

/**
 * Inserts the lines as events in bulk, in line order: COPY straight into events (the direct path,
 * COPY_EVENTS), else COPY into the staging table and one INSERT ... SELECT; returns the rows inserted
 * per segment. When the database refuses some of the data, it is done again by insertEvents, in
 * chunks and then row by row, the refused rows going to `dead`.
 */
async function bulkInsertEvents(c: pg.ClientBase, segment: number, lines: ProcessedLine[], dead: DeadLetterInput[], direct: DirectCopy): Promise<Map<number, number>> {
  if (lines.length === 0) return new Map();
  if (direct.skip > 0) direct.skip--;
  else {
    const copied = await underSavepoint(c, () => pipeline(Readable.from(copyChunks(lines, segment, false)), c.query(copyFrom(COPY_EVENTS))));
    if (!(copied instanceof Error)) {
      const by = new Map<number, number>();
      for (const pl of lines) by.set(pl.segment ?? segment, (by.get(pl.segment ?? segment) ?? 0) + 1);
      return by;
    }
    // A message id stored before (a client's retry) or twice in the group, or a value refused: the staged path sorts it out.
    direct.skip = DIRECT_COOLDOWN;
  }
  const rows = await underSavepoint(c, async () => {
    await c.query(STAGE);
    await pipeline(Readable.from(copyChunks(lines, segment, true)), c.query(copyFrom('COPY solute_stage FROM STDIN')));
    return (await c.query<{ segment: number; n: number }>(INSERT_STAGED)).rows;
  });
  if (rows instanceof Error) return insertEvents(c, segment, lines, dead);
  return new Map(rows.map((r) => [r.segment, r.n]));
}

/** The chunk's rows as the JSON array INSERT_EVENTS reads. */
function rowsJson(lines: readonly ProcessedLine[], segment: number): string {
  const str = JSON.stringify;
  const strNull = (v: string | null | undefined) => (v === null || v === undefined ? 'null' : str(enc(v)));
  let out = '[';
  for (let i = 0; i < lines.length; i++) {
    const { line: l, segment: g } = lines[i];
    out += `${i === 0 ? '' : ','}{"p":${str(enc(l.p))},"m":${str(enc(l.m))},"s":${l.s},"t":${l.t},"y":${str(enc(l.y))},"n":${strNull(l.n)},"u":${strNull(l.u)},"a":${strNull(l.a)},"e":${bodyJson(lines[i])},"x":${addedJson(lines[i]) ?? 'null'},"g":${g ?? segment}}`;
  }
  return out + ']';
}

function sum(counts: ReadonlyMap<number, number>): number {
  let n = 0;
  for (const v of counts.values()) n += v;
  return n;
}

/**
 * Inserts the lines as events, in line order (so `id`, the tie-break after ts, follows the log), in
 * chunks of one statement each; a chunk the database refuses as data (a value
 * too large for an index, say) is redone row by row, each refused row going to `dead` with step
 * 'store'. Returns the rows inserted per segment (a message id already stored, by any node, or
 * earlier in the same chunk, is skipped).
 */
async function insertEvents(c: pg.ClientBase, segment: number, lines: ProcessedLine[], dead: DeadLetterInput[]): Promise<Map<number, number>> {
  const stored = new Map<number, number>();
  const add = (rows: Array<{ segment: number; n: number }>) => {
    for (const r of rows) stored.set(r.segment, (stored.get(r.segment) ?? 0) + r.n);
  };
  const insert = async (chunk: ProcessedLine[]) => (await c.query<{ segment: number; n: number }>(INSERT_EVENTS, [rowsJson(chunk, segment)])).rows;
  for (let i = 0; i < lines.length; i += CHUNK) {
    const chunk = lines.slice(i, i + CHUNK);
    const rows = await underSavepoint(c, () => insert(chunk));
    if (!(rows instanceof Error)) {
      add(rows);
      continue;
    }
    for (const pl of chunk) {
      const one = await underSavepoint(c, () => insert([pl]));
      if (!(one instanceof Error)) add(one);
      else dead.push({ segment: pl.segment ?? segment, index: pl.index, project: pl.line.p, step: 'store', reason: one.message, raw: pl.raw });
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
