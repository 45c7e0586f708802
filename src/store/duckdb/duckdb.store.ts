// The embedded queryable store: DuckDB, a columnar engine that bulk-loads a batch of processed
// events in one statement (read_ndjson over a staged file) and answers analytical queries over
// millions of rows in milliseconds. One process may write it, so keys and other CLI-written
// metadata live in SQLite.
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import fs from 'node:fs/promises';
import path from 'node:path';
import type {
  BatchSteps,
  BulkEnrich,
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
  SegmentFileLoader,
} from '../../contracts/event-store.js';
import type { LogLine } from '../../contracts/log-line.js';
import { migrate } from './duckdb.schema.js';
import { applyStatefulSteps } from './duckdb.state.js';
import { addUserAgents, insertBulkLines } from './duckdb.bulk.js';
import { ENRICHMENT_COLUMNS, ENRICHMENT_JOIN, storedEvent, type EnrichedRow } from './duckdb.enriched.js';
import { linesOutsideBulkRule } from '../../contracts/log-line.js';
import { readWholeFile } from '../../lib/read-whole.js';
import { readGroup, readProfile, searchProfiles } from './duckdb.profiles.js';
import type { Group, Profile, ProfileReader, ProfileSearch, ProfileSummary } from '../../contracts/profiles.js';
import { withWarnings } from '../stateful-lines.js';
import { addToSummaries } from './duckdb.summaries.js';
import { latestSeqs, rowsBySeqs } from './duckdb.user-events.js';

// The log line's fields in the order of the events table's columns (see contracts/event-log.ts LogLine).
const COLUMNS = `{p:'VARCHAR', s:'BIGINT', t:'BIGINT', y:'VARCHAR', n:'VARCHAR', u:'VARCHAR', a:'VARCHAR', m:'VARCHAR', e:'JSON'}`;
/** uhash/ahash: DuckDB's hash() of the ids, NULL without an id (hash(NULL) is a number). */
const HASHES = (u: string, a: string) => `CASE WHEN ${u} IS NULL THEN NULL ELSE hash(${u}) END, CASE WHEN ${a} IS NULL THEN NULL ELSE hash(${a}) END`;
/** The most events GET /api/events?userId= fetches by one lookup each (duckdb.user-events.ts rowsBySeqs). */
const SEQ_LOOKUPS_MAX = 201;
/** A line stored with its enrichment in the body: ip and ua NULL (duckdb.enriched.ts). */
const SELECT_COLUMNS = `SELECT p, s, t, y, n, u, a, m, e, ${HASHES('u', 'a')}, NULL, NULL`;

export interface DuckDbStoreOptions {
  memoryLimit: string;
  threads: number;
  checkpointThreshold?: string;
}

export class DuckDbStore implements EventStore, ProfileReader, SegmentFileLoader {
  private closing: Promise<void> | null = null;

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly writer: DuckDBConnection,
    private readonly reader: DuckDBConnection,
    private readonly stageDir: string,
  ) {}

  static async open(file: string, opts: DuckDbStoreOptions): Promise<DuckDbStore> {
    await fs.mkdir(path.dirname(file), { recursive: true });
    const instance = await DuckDBInstance.create(file, {
      memory_limit: opts.memoryLimit,
      threads: String(opts.threads),
      checkpoint_threshold: opts.checkpointThreshold ?? '256MB',
    });
    const writer = await instance.connect();
    await migrate(writer);
    const reader = await instance.connect();
    const stageDir = path.join(path.dirname(file), 'stage');
    await fs.rm(stageDir, { recursive: true, force: true });
    await fs.mkdir(stageDir, { recursive: true });
    return new DuckDbStore(instance, writer, reader, stageDir);
  }

  async lastSegmentId(): Promise<number> {
    return this.scalar('SELECT coalesce(max(id), 0)::DOUBLE FROM segments');
  }

  async maxSeq(): Promise<number> {
    return this.scalar('SELECT coalesce(max(seq), 0)::DOUBLE FROM events');
  }

  async countEvents(): Promise<number> {
    return this.scalar('SELECT count(*)::DOUBLE FROM events');
  }

  async commitBatch(batch: { segment: number; lines: ProcessedLine[]; deadLetters: DeadLetterInput[] }, steps: BatchSteps, opts: CommitOptions = {}): Promise<LoadResult> {
    const w = this.writer;
    const done = await w.runAndReadAll('SELECT 1 FROM segments WHERE id = $1', [batch.segment]);
    if (done.currentRowCount > 0) return { stored: 0, deadLettered: 0 }; // committed before a crash
    return this.retryLineByLine((bulk) =>
      this.transaction(async () => {
        const { keep, dead, warnings } = await applyStatefulSteps(w, batch.segment, batch.lines, steps);
        const stored = await this.insertEvents(batch.segment, keep, dead, bulk);
        // Every row this batch stored has a seq from its segment's range, which no other segment's lines share.
        if (keep.length > 0) {
          let lo = Infinity;
          let hi = -Infinity;
          for (const pl of keep) {
            lo = Math.min(lo, Math.floor(pl.line.s));
            hi = Math.max(hi, Math.floor(pl.line.s));
          }
          await addToSummaries(w, `seq BETWEEN ${lo} AND ${hi}`);
        }
        const deadLetters = [...batch.deadLetters, ...dead];
        await this.insertDeadLetters(deadLetters);
        await w.run('INSERT INTO segments VALUES ($1, $2, $3, now())', [batch.segment, stored, deadLetters.length]);
        return withWarnings({ stored, deadLettered: deadLetters.length }, warnings);
      }, opts.dryRun === true),
    );
  }

  /**
   * The embedded processor's fast path (duckdb.bulk.ts): DuckDB reads the segment files itself and
   * stores the lines the bulk rule covers as they are, enrichment beside them; the other lines take
   * the per-event path first. Several segments share one transaction: the stateful steps' statements,
   * the commit and DuckDB's row groups are paid per load, not per segment. null: some line does not
   * read in bulk (nothing written).
   */
  async loadSegmentFiles(segments: ReadonlyArray<{ id: number; file: string }>, enrich: BulkEnrich, steps: BatchSteps): Promise<LoadResult | null> {
    const w = this.writer;
    const committed = new Set(
      (await w.runAndReadAll(`SELECT id::DOUBLE FROM segments WHERE id IN (${segments.map((s) => Math.floor(s.id)).join(',')})`)).getRowsJS().map((r) => Number(r[0])),
    );
    const todo = segments.filter((s) => !committed.has(s.id)); // the others were committed before a crash
    if (todo.length === 0) return { stored: 0, deadLettered: 0 };
    const slow: ProcessedLine[] = [];
    const slowDead: DeadLetterInput[] = [];
    let firstSeq = Infinity;
    let lastSeq = -Infinity;
    for (const segment of todo) {
      const others = linesOutsideBulkRule(await readWholeFile(segment.file));
      if (others.firstSeq === null || others.lastSeq === null) return null;
      firstSeq = Math.min(firstSeq, others.firstSeq);
      lastSeq = Math.max(lastSeq, others.lastSeq);
      const r = enrich.perEvent(segment.id, others.raws, others.indexes);
      for (const pl of r.lines) slow.push({ ...pl, segment: segment.id });
      slowDead.push(...r.dead);
    }
    const batchId = todo[0].id;
    // Any failure here (a line read_ndjson refuses, a value DuckDB refuses in the bulk insert): null,
    // and the caller stores each segment line by line, where each line that fails becomes a dead letter.
    return this.retryLineByLine((bulk) =>
      this.transaction(async () => {
        const storedBy = new Map<number, number>();
        for (const segment of todo) storedBy.set(segment.id, await insertBulkLines(w, segment.file, HASHES('u', 'a')));
        await addUserAgents(w, firstSeq, enrich);
        const { keep, dead, warnings } = await applyStatefulSteps(w, batchId, slow, steps);
        await this.insertEvents(batchId, keep, dead, bulk);
        // The load's rows are the seqs of its segments, consecutive in the log (duckdb.summaries.ts).
        await addToSummaries(w, `seq BETWEEN ${Math.floor(firstSeq)} AND ${Math.floor(lastSeq)}`);
        const deadLetters = [...slowDead, ...dead];
        await this.insertDeadLetters(deadLetters);
        // Per segment, what it stored and set apart (each line's own segment).
        for (const pl of keep) storedBy.set(pl.segment!, storedBy.get(pl.segment!)! + 1);
        const deadBy = new Map<number, number>();
        for (const d of deadLetters) {
          deadBy.set(d.segment, (deadBy.get(d.segment) ?? 0) + 1);
          if (d.step === 'store') storedBy.set(d.segment, storedBy.get(d.segment)! - 1); // a kept line the store refused
        }
        for (const segment of todo) {
          await w.run('INSERT INTO segments VALUES ($1, $2, $3, now())', [segment.id, storedBy.get(segment.id)!, deadBy.get(segment.id) ?? 0]);
        }
        let stored = 0;
        for (const n of storedBy.values()) stored += n;
        return withWarnings({ stored, deadLettered: deadLetters.length }, warnings);
      }),
    ).catch(() => null);
  }

  /** fn in a transaction, committed, or rolled back when `dryRun` (its result is returned all the same). */
  private async transaction<T>(fn: () => Promise<T>, dryRun = false): Promise<T> {
    await this.writer.run('BEGIN TRANSACTION');
    try {
      const result = await fn();
      await this.writer.run(dryRun ? 'ROLLBACK' : 'COMMIT');
      return result;
    } catch (err) {
      await this.writer.run('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }

  /** A failed bulk load aborts DuckDB's transaction (it has no savepoints): the whole commit is redone line by line. */
  private async retryLineByLine<T>(commit: (bulk: boolean) => Promise<T>): Promise<T> {
    try {
      return await commit(true);
    } catch (err) {
      if (!(err instanceof BulkLoadFailed)) throw err;
      return commit(false);
    }
  }

  async commitReplay(
    lines: Array<ProcessedLine & { deadLetterId: number }>,
    failed: Array<{ deadLetterId: number; step: string; reason: string }>,
    steps: BatchSteps,
  ): Promise<ReplayResult> {
    const w = this.writer;
    return this.retryLineByLine((bulk) => this.transaction(async () => {
      const wanted = [...lines.map((l) => l.deadLetterId), ...failed.map((f) => f.deadLetterId)];
      const present = new Set(
        (await w.runAndReadAll(`SELECT id::DOUBLE FROM dead_letters WHERE id IN (${wanted.map(Number).join(',') || 'NULL'})`)).getRowsJS().map((r) => Number(r[0])),
      );
      const live = lines.filter((l) => present.has(l.deadLetterId));
      const again = failed.filter((f) => present.has(f.deadLetterId));
      const { keep, dead } = await applyStatefulSteps(w, -1, live, steps);
      const dead2: DeadLetterInput[] = [];
      const stored = await this.insertEvents(-1, keep, dead2, bulk);
      // A replayed line keeps its seq, which no stored row has (the line was never stored).
      if (stored > 0) await addToSummaries(w, `seq IN (${keep.map((pl) => Math.floor(pl.line.s)).join(',')})`);
      const byLine = new Map(live.map((l) => [l as ProcessedLine, l.deadLetterId]));
      for (const d of dead) {
        const pl = live.find((l) => l.raw === d.raw && l.index === d.index);
        if (pl) again.push({ deadLetterId: pl.deadLetterId, step: d.step, reason: d.reason });
      }
      for (const d of dead2) {
        const pl = keep.find((l) => l.raw === d.raw && l.index === d.index);
        if (pl) again.push({ deadLetterId: byLine.get(pl)!, step: d.step, reason: d.reason });
      }
      const againIds = new Set(again.map((a) => a.deadLetterId));
      const storedIds = live.map((l) => l.deadLetterId).filter((id) => !againIds.has(id));
      if (storedIds.length > 0) await w.run(`DELETE FROM dead_letters WHERE id IN (${storedIds.join(',')})`);
      for (const a of again) {
        await w.run('UPDATE dead_letters SET step = $1, reason = $2, attempts = attempts + 1 WHERE id = $3', [a.step, a.reason, a.deadLetterId]);
      }
      return { stored, failed: again.length, missing: wanted.length - present.size };
    }));
  }

  /**
   * Inserts the lines as events: one read_ndjson over a staged file (the fast path), or, when that
   * fails, line by line, each line that cannot be stored going to `dead` with step 'store'.
   */
  private async insertEvents(segment: number, lines: ProcessedLine[], dead: DeadLetterInput[], bulk: boolean): Promise<number> {
    if (lines.length === 0) return 0;
    if (!bulk) return this.insertLineByLine(segment, lines, dead);
    const w = this.writer;
    const file = path.join(this.stageDir, `${segment < 0 ? 'replay' : segment}.ndjson`);
    let text = '';
    for (const pl of lines) text += JSON.stringify(pl.line) + '\n';
    await fs.writeFile(file, text);
    try {
      const src = `read_ndjson(${sqlString(file)}, columns=${COLUMNS}, format='newline_delimited')`;
      // A segment's lines were deduped at the acknowledgement (exact inside the index's window); checking
      // every load against the whole table would cost a scan of all message ids, growing with the
      // store. A replay (segment < 0) is small and rare: it skips a message id already stored.
      const fresh =
        segment >= 0
          ? src
          : `(SELECT * FROM ${src} QUALIFY row_number() OVER (PARTITION BY p, m ORDER BY s) = 1) AS src
        WHERE NOT EXISTS (SELECT 1 FROM events x WHERE x.project = src.p AND x.message_id = src.m)`;
      const r = await w.run(`INSERT INTO events ${SELECT_COLUMNS} FROM ${fresh}`);
      return Number(r.rowsChanged);
    } catch (err) {
      throw new BulkLoadFailed(err);
    } finally {
      await fs.rm(file, { force: true });
    }
  }

  private async insertLineByLine(segment: number, lines: ProcessedLine[], dead: DeadLetterInput[]): Promise<number> {
    const row = 'SELECT $1::VARCHAR, $2::BIGINT, $3::BIGINT, $4::VARCHAR, $5::VARCHAR, $6::VARCHAR, $7::VARCHAR, $8::VARCHAR, $9::JSON';
    const insert = await this.writer.prepare(`INSERT INTO events SELECT *, ${HASHES('col6', 'col7')}, NULL, NULL FROM (${row}) AS r(col1, col2, col3, col4, col5, col6, col7, col8, col9)`);
    const probe = await this.reader.prepare(row);
    const exists = await this.writer.prepare('SELECT 1 FROM events WHERE project = $1 AND message_id = $2');
    let stored = 0;
    for (const pl of lines) {
      const l = pl.line;
      exists.bind([l.p, l.m]);
      if ((await exists.runAndReadAll()).currentRowCount > 0) continue; // stored before, or earlier in this batch
      const values = [l.p, l.s, l.t, l.y, l.n, l.u, l.a, l.m, JSON.stringify(l.e)];
      try {
        // A failed statement aborts DuckDB's transaction, so each line is tried first outside it.
        probe.bind(values);
        await probe.run();
      } catch (err) {
        dead.push({ segment: pl.segment ?? segment, index: pl.index, project: l.p, step: 'store', reason: (err as Error).message, raw: pl.raw });
        continue;
      }
      insert.bind(values);
      await insert.run();
      stored++;
    }
    return stored;
  }

  private async insertDeadLetters(dead: DeadLetterInput[]): Promise<void> {
    for (const d of dead) {
      await this.writer.run('INSERT INTO dead_letters (segment, line, project, step, reason, raw, created_at) VALUES ($1, $2, $3, $4, $5, $6, now())', [
        d.segment,
        d.index,
        d.project,
        d.step,
        d.reason,
        d.raw,
      ]);
    }
  }

  async queryEvents(project: string, f: EventFilter): Promise<EventPage> {
    const where = ['project = $project'];
    const params: Record<string, string | number> = { project };
    const eq = (col: string, key: keyof EventFilter) => {
      const v = f[key];
      if (typeof v === 'string') {
        where.push(`${col} = $${key}`);
        params[key] = v;
      }
    };
    eq('type', 'type');
    eq('event', 'event');
    eq('anonymous_id', 'anonymousId');
    // The integer hash columns first: an 8-byte scan instead of a string one (the string test stays, for collisions).
    if (typeof f.anonymousId === 'string') where.push('ahash = hash($anonymousId)');
    const byUser = typeof f.userId === 'string' ? ['user_id = $userId', 'uhash = hash($userId)'] : [];
    eq('message_id', 'messageId');
    if (f.from !== undefined) (where.push('ts >= $from'), (params.from = f.from));
    if (f.to !== undefined) (where.push('ts < $to'), (params.to = f.to));
    if (f.cursor) {
      where.push('(ts < $ct OR (ts = $ct AND seq < $cs))');
      params.ct = f.cursor.t;
      params.cs = f.cursor.s;
    }
    const columns = 'ts::DOUBLE AS t, seq::DOUBLE AS s, body, ip, ua';
    const read = async (latest: string, values: Record<string, string | number>) => {
      const sql = `SELECT ${ENRICHMENT_COLUMNS}, e.t, e.s FROM (${latest}) e ${ENRICHMENT_JOIN} ORDER BY e.t DESC, e.s DESC`;
      return (await this.reader.runAndReadAll(sql, values)).getRowObjectsJS() as unknown as Array<EnrichedRow & { t: number; s: number }>;
    };
    const withUser = typeof f.userId === 'string' ? { ...params, userId: f.userId } : params;
    const everything = `SELECT ${columns} FROM events WHERE ${[...where, ...byUser].join(' AND ')} ORDER BY ts DESC, seq DESC LIMIT ${f.limit + 1}`;
    let rows: Array<EnrichedRow & { t: number; s: number }>;
    // One lookup per seq: worth it for a page of up to ~200 (SEQ_LOOKUPS_MAX), a plain scan above.
    if (typeof f.userId === 'string' && f.limit + 1 <= SEQ_LOOKUPS_MAX) {
      // The user's latest events by seq from the summaries (duckdb.user-events.ts); when the other
      // filters leave fewer of them than a page, the whole table after all.
      const latest = await latestSeqs(this.reader, project, [f.userId], f.limit + 1, f.cursor ?? undefined);
      if (latest.seqs.length === 0) return { events: [], next: null };
      // The lookups leave out the userId test (reading the user_id and uhash columns of each row's
      // vector tripled their cost at 10M): the seqs are the user's, and the bodies say whose they are.
      // A user whose id is also someone's anonymousId may have events of theirs among the seqs; those
      // pages, like short ones, read the whole table.
      rows = await read(`SELECT * FROM (${rowsBySeqs(latest.seqs, columns, where.join(' AND '))}) ORDER BY t DESC, s DESC LIMIT ${f.limit + 1}`, params);
      const theirs = rows.every((r) => (storedEvent(r) as { userId?: unknown }).userId === f.userId);
      if (!theirs || (rows.length <= f.limit && !latest.all)) rows = await read(everything, withUser);
    } else {
      rows = await read(everything, withUser);
    }
    const more = rows.length > f.limit;
    const page = more ? rows.slice(0, f.limit) : rows;
    const last = page.at(-1);
    return {
      events: page.map(storedEvent),
      next: more && last ? { t: last.t, s: last.s } : null,
    };
  }

  async deadLetters(filter: DeadLetterFilter): Promise<DeadLetter[]> {
    const where: string[] = [];
    const params: Record<string, string | number> = {};
    if (filter.ids !== undefined) where.push(`id IN (${filter.ids.map((id) => Math.floor(Number(id))).join(',') || 'NULL'})`);
    if (filter.project !== undefined) (where.push('project = $project'), (params.project = filter.project));
    if (filter.afterId !== undefined) (where.push('id > $after'), (params.after = filter.afterId));
    const r = await this.reader.runAndReadAll(
      `SELECT id::DOUBLE AS id, segment::DOUBLE AS segment, line AS "index", project, step, reason, raw, created_at::VARCHAR AS "createdAt", attempts
       FROM dead_letters ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id LIMIT ${Math.max(1, Math.floor(filter.limit))}`,
      params,
    );
    return r.getRowObjectsJS() as unknown as DeadLetter[];
  }

  /** Stored events as log lines, in sequence (arrival) order, after `afterSeq`: what `bin/solute export` writes. */
  async exportLines(afterSeq: number, limit: number): Promise<LogLine[]> {
    const r = await this.reader.runAndReadAll(
      `SELECT e.project AS p, e.seq::DOUBLE AS s, e.ts::DOUBLE AS t, e.type AS y, e.event AS n, e.user_id AS u, e.anonymous_id AS a, e.message_id AS m, ${ENRICHMENT_COLUMNS}
       FROM (SELECT * FROM events WHERE seq > $after ORDER BY seq LIMIT ${Math.floor(limit)}) e ${ENRICHMENT_JOIN} ORDER BY e.seq`,
      { after: afterSeq },
    );
    return (r.getRowObjectsJS() as unknown as Array<EnrichedRow & Omit<LogLine, 'e'>>).map(({ p, s, t, y, n, u, a, m, ...row }) => ({ p, s, t, y, n, u, a, m, e: storedEvent(row) }));
  }

  /**
   * (project, messageId, receivedAt ms) of the stored events received at or after `sinceMs`, in pages:
   * what a rebuild of the dedupe index reads (dedupe-index.ts). One scan; rows are paged by seq.
   */
  async *messageIds(sinceMs: number, pageSize = 50_000): AsyncIterable<Array<{ project: string; messageId: string; receivedMs: number }>> {
    let after = -1;
    for (;;) {
      const r = await this.reader.runAndReadAll(
        `SELECT seq::DOUBLE, project, message_id, epoch_ms(CAST(json_extract_string(body, '$.receivedAt') AS TIMESTAMP))::DOUBLE AS received
         FROM events WHERE seq > $after ORDER BY seq LIMIT ${Math.floor(pageSize)}`,
        { after },
      );
      const rows = r.getRowsJS() as Array<[number, string, string, number | null]>;
      if (rows.length === 0) return;
      after = rows[rows.length - 1][0];
      const page = rows.filter((x) => x[3] !== null && x[3] >= sinceMs).map(([, project, messageId, receivedMs]) => ({ project, messageId, receivedMs: receivedMs! }));
      if (page.length > 0) yield page;
    }
  }

  profile(project: string, id: string, recent: number): Promise<Profile | null> {
    return readProfile(this.reader, project, id, recent);
  }

  profiles(project: string, search: ProfileSearch): Promise<{ profiles: ProfileSummary[]; next: string | null }> {
    return searchProfiles(this.reader, project, search);
  }

  group(project: string, groupId: string, members: { limit: number; after?: string }): Promise<Group | null> {
    return readGroup(this.reader, project, groupId, members);
  }

  /** Idempotent; a second call waits for the first. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.writer.run('CHECKPOINT').catch(() => undefined);
      this.reader.closeSync();
      this.writer.closeSync();
      this.instance.closeSync();
    })();
    return this.closing;
  }

  private async scalar(sql: string): Promise<number> {
    const r = await this.reader.runAndReadAll(sql);
    return Number(r.getRowsJS()[0][0]);
  }

  /** The read connection, for query modules beside this one (stats.queries.ts) and the seed command. */
  queryConnection(): DuckDBConnection {
    return this.reader;
  }
}

class BulkLoadFailed extends Error {
  constructor(cause: unknown) {
    super('bulk load failed', { cause });
  }
}

function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}
