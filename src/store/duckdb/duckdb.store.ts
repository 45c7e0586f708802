// The embedded queryable store: DuckDB, a columnar engine that bulk-loads a closed NDJSON log
// segment in one statement (read_ndjson) and answers analytical queries over millions of rows
// in milliseconds. One process may write it, so keys and other CLI-written metadata live in SQLite.
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import fs from 'node:fs/promises';
import path from 'node:path';
import { wellFormed } from '../../lib/well-formed.js';
import type { LogLine } from '../../contracts/event-log.js';
import type { EventFilter, EventPage, EventStore, LoadResult } from '../../contracts/event-store.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  project VARCHAR NOT NULL,
  seq BIGINT NOT NULL,
  ts BIGINT NOT NULL,           -- corrected timestamp, epoch ms
  type VARCHAR NOT NULL,
  event VARCHAR,
  user_id VARCHAR,
  anonymous_id VARCHAR,
  message_id VARCHAR NOT NULL,
  body JSON NOT NULL            -- the event as sent plus receivedAt, originalTimestamp, sentAt, timestamp
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

// The log line's fields in the order of the events table's columns (see contracts/event-log.ts LogLine).
const COLUMNS = `{p:'VARCHAR', s:'BIGINT', t:'BIGINT', y:'VARCHAR', n:'VARCHAR', u:'VARCHAR', a:'VARCHAR', m:'VARCHAR', e:'JSON'}`;

export interface DuckDbStoreOptions {
  memoryLimit: string;
  threads: number;
  checkpointThreshold?: string;
}

export class DuckDbStore implements EventStore {
  private closing: Promise<void> | null = null;

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly writer: DuckDBConnection,
    private readonly reader: DuckDBConnection,
  ) {}

  static async open(file: string, opts: DuckDbStoreOptions): Promise<DuckDbStore> {
    await fs.mkdir(path.dirname(file), { recursive: true });
    const instance = await DuckDBInstance.create(file, {
      memory_limit: opts.memoryLimit,
      threads: String(opts.threads),
      checkpoint_threshold: opts.checkpointThreshold ?? '256MB',
    });
    const writer = await instance.connect();
    await writer.run(SCHEMA);
    const reader = await instance.connect();
    return new DuckDbStore(instance, writer, reader);
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

  async loadSegment(segment: { id: number; file: string }): Promise<LoadResult> {
    const w = this.writer;
    const done = await w.runAndReadAll('SELECT events::DOUBLE, dead_letters::DOUBLE FROM segments WHERE id = $1', [segment.id]);
    if (done.currentRowCount > 0) return { stored: 0, deadLettered: 0 }; // committed before a crash
    await w.run('BEGIN TRANSACTION');
    try {
      const result = await this.loadBulk(segment).catch(async () => {
        // Some line does not load: roll back the bulk attempt and store line by line,
        // sending each line that fails to the dead-letter table with its reason.
        await w.run('ROLLBACK');
        await w.run('BEGIN TRANSACTION');
        return this.loadLineByLine(segment);
      });
      await w.run('INSERT INTO segments VALUES ($1, $2, $3, now())', [segment.id, result.stored, result.deadLettered]);
      await w.run('COMMIT');
      return result;
    } catch (err) {
      await w.run('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }

  private async loadBulk(segment: { id: number; file: string }): Promise<LoadResult> {
    const src = `read_ndjson(${sqlString(segment.file)}, columns=${COLUMNS}, format='newline_delimited')`;
    const r = await this.writer.run(`INSERT INTO events SELECT p, s, t, y, n, u, a, m, e FROM ${src}`);
    return { stored: Number(r.rowsChanged), deadLettered: 0 };
  }

  private async loadLineByLine(segment: { id: number; file: string }): Promise<LoadResult> {
    const text = await fs.readFile(segment.file, 'utf8');
    const lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop();
    const row = 'SELECT $1::VARCHAR, $2::BIGINT, $3::BIGINT, $4::VARCHAR, $5::VARCHAR, $6::VARCHAR, $7::VARCHAR, $8::VARCHAR, $9::JSON';
    const insert = await this.writer.prepare(`INSERT INTO events ${row}`);
    const probe = await this.reader.prepare(row);
    let stored = 0;
    let dead = 0;
    for (let i = 0; i < lines.length; i++) {
      let values: Array<string | number | null>;
      try {
        // DuckDB refuses lone UTF-16 surrogates (e.g. an emoji cut in half by a client), which JSON
        // and JavaScript allow: such strings are stored with U+FFFD in their place, not dropped.
        const l = wellFormed(JSON.parse(lines[i])) as LogLine;
        const missing = malformed(l);
        if (missing) throw new Error(`malformed log line: ${missing}`);
        values = [l.p, l.s, l.t, l.y, l.n, l.u, l.a, l.m, JSON.stringify(l.e)];
        // A failed statement aborts DuckDB's transaction, so each line is tried first outside it.
        probe.bind(values);
        await probe.run();
      } catch (err) {
        await this.writer.run('INSERT INTO dead_letters VALUES ($1, $2, $3, $4, $5, now())', [segment.id, i, 'store', (err as Error).message, lines[i]]);
        dead++;
        continue;
      }
      insert.bind(values);
      await insert.run();
      stored++;
    }
    return { stored, deadLettered: dead };
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
    eq('user_id', 'userId');
    eq('anonymous_id', 'anonymousId');
    eq('message_id', 'messageId');
    if (f.from !== undefined) (where.push('ts >= $from'), (params.from = f.from));
    if (f.to !== undefined) (where.push('ts < $to'), (params.to = f.to));
    if (f.cursor) {
      where.push('(ts < $ct OR (ts = $ct AND seq < $cs))');
      params.ct = f.cursor.t;
      params.cs = f.cursor.s;
    }
    const sql = `SELECT body::VARCHAR AS body, ts::DOUBLE AS t, seq::DOUBLE AS s FROM events
      WHERE ${where.join(' AND ')} ORDER BY ts DESC, seq DESC LIMIT ${f.limit + 1}`;
    const rows = (await this.reader.runAndReadAll(sql, params)).getRowObjectsJS() as Array<{ body: string; t: number; s: number }>;
    const more = rows.length > f.limit;
    const page = more ? rows.slice(0, f.limit) : rows;
    const last = page.at(-1);
    return {
      events: page.map((r) => JSON.parse(r.body) as Record<string, unknown>),
      next: more && last ? { t: last.t, s: last.s } : null,
    };
  }

  async deadLetters(limit = 100): Promise<Array<Record<string, unknown>>> {
    const r = await this.reader.runAndReadAll(
      `SELECT segment::DOUBLE AS segment, line, step, reason, raw, created_at::VARCHAR AS created_at FROM dead_letters ORDER BY created_at DESC LIMIT ${Math.floor(limit)}`,
    );
    return r.getRowObjectsJS() as Array<Record<string, unknown>>;
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

/** What makes a parsed line unfit for the events table's NOT NULL columns, or null. */
function malformed(l: LogLine): string | null {
  if (typeof l !== 'object' || l === null) return 'not an object';
  if (typeof l.p !== 'string' || typeof l.y !== 'string' || typeof l.m !== 'string') return 'p, y and m must be strings';
  if (!Number.isSafeInteger(l.s) || !Number.isSafeInteger(l.t)) return 's and t must be integers';
  if (typeof l.e !== 'object' || l.e === null) return 'e must be an object';
  return null;
}

function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}
