// Moving an embedded installation to PostgreSQL: `bin/solute export` writes the embedded data
// directory as NDJSON, `bin/solute import` (with SOLUTE_STORE set) reads it into PostgreSQL.
//
// What moves: keys (hashes only) and project settings, every stored event (as log lines, in arrival
// order), and dead letters. Profiles and groups are not copied: the import runs the events through
// the same identity and group steps, in the same order, so PostgreSQL rebuilds them exactly. The
// events keep what enrichment added; the per-event steps do not run again.
//
// Import is idempotent: events are committed in chunks keyed by their first sequence number (source
// `import`), and PostgreSQL stores a (project, messageId) once, so an interrupted import is resumed
// by running it again.
import readline from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import type { LogLine } from './contracts/log-line.js';
import type { DeadLetterInput, ProcessedLine } from './contracts/event-store.js';
import type { KeyTableRows } from './contracts/key-store.js';
import { dataPaths } from './data-paths.js';
import { createBatchSteps } from './process/pipeline.js';
import { DuckDbStore } from './store/duckdb/duckdb.store.js';
import { MetaStore } from './store/sqlite/meta.store.js';
import { PgMetaStore } from './store/postgres/pg.meta.js';
import { PgStore } from './store/postgres/pg.store.js';
import { schemaFor } from './store/postgres/pg.schema-name.js';

const FORMAT = 'solute-export';
const VERSION = 1;
const CHUNK = 5000;

type Row =
  | { type: typeof FORMAT; version: number; exportedAt: string }
  | ({ type: 'key' } & KeyTableRows['keys'][number])
  | ({ type: 'project' } & KeyTableRows['projects'][number])
  | { type: 'event'; line: LogLine }
  | ({ type: 'dead_letter' } & DeadLetterInput);

export interface TransferCounts {
  keys: number;
  projects: number;
  events: number;
  deadLetters: number;
}

function write(out: Writable, row: Row): Promise<void> | void {
  if (!out.write(JSON.stringify(row) + '\n')) return new Promise((r) => out.once('drain', r));
}

/** Writes the embedded installation in `config.dataDir` (server stopped: DuckDB has one writer). */
export async function exportEmbedded(config: Config, out: Writable): Promise<TransferCounts> {
  const paths = dataPaths(config.dataDir);
  const meta = new MetaStore(paths.meta);
  const store = await DuckDbStore.open(paths.store, { memoryLimit: config.storeMemoryLimit, threads: config.storeThreads });
  const counts: TransferCounts = { keys: 0, projects: 0, events: 0, deadLetters: 0 };
  try {
    await write(out, { type: FORMAT, version: VERSION, exportedAt: new Date().toISOString() });
    const rows = meta.exportRows();
    for (const k of rows.keys) (await write(out, { type: 'key', ...k }), counts.keys++);
    for (const p of rows.projects) (await write(out, { type: 'project', ...p }), counts.projects++);
    for (let after = -1; ; ) {
      const lines = await store.exportLines(after, CHUNK);
      if (lines.length === 0) break;
      for (const line of lines) await write(out, { type: 'event', line });
      counts.events += lines.length;
      after = lines.at(-1)!.s;
    }
    for (let after = 0; ; ) {
      const dead = await store.deadLetters({ limit: CHUNK, afterId: after });
      if (dead.length === 0) break;
      for (const d of dead) await write(out, { type: 'dead_letter', segment: d.segment, index: d.index, project: d.project, step: d.step, reason: d.reason, raw: d.raw });
      counts.deadLetters += dead.length;
      after = dead.at(-1)!.id;
    }
    return counts;
  } finally {
    await store.close();
    meta.close();
  }
}

/** Reads an export into the PostgreSQL store of `config.store` (created and migrated if needed). */
export async function importToPostgres(config: Config, input: Readable, logger: Logger): Promise<TransferCounts> {
  if (config.store === '') throw new Error('import writes to PostgreSQL: set SOLUTE_STORE=postgres://...');
  const schema = await schemaFor(config.store, config.pgSchema);
  const store = await PgStore.open(config.store, { schema });
  const pool = new pg.Pool({ connectionString: config.store, max: 2 });
  const meta = await PgMetaStore.open(pool, { schema });
  const counts: TransferCounts = { keys: 0, projects: 0, events: 0, deadLetters: 0 };
  const steps = createBatchSteps(config);
  const keys: KeyTableRows = { keys: [], projects: [] };
  let events: ProcessedLine[] = [];
  let dead: DeadLetterInput[] = [];
  let lineNo = 0;
  const flushEvents = async () => {
    if (events.length === 0) return;
    const r = await store.commitBatch({ segment: events[0].line.s, source: 'import', lines: events, deadLetters: [] }, steps);
    counts.events += r.stored;
    events = [];
  };
  const flushDead = async () => {
    if (dead.length === 0) return;
    // Keyed by the input line of the chunk's first dead letter: a second import skips it.
    const r = await store.commitBatch({ segment: lineNo, source: 'import-dead-letters', lines: [], deadLetters: dead }, steps);
    counts.deadLetters += r.deadLettered;
    dead = [];
  };
  try {
    const rl = readline.createInterface({ input, crlfDelay: Infinity });
    for await (const text of rl) {
      lineNo++;
      if (text.trim() === '') continue;
      let row: Row;
      try {
        row = JSON.parse(text) as Row;
      } catch {
        throw new Error(`line ${lineNo}: not JSON; is this a bin/solute export?`);
      }
      if (lineNo === 1 && (row.type !== FORMAT || (row as { version: number }).version !== VERSION)) {
        throw new Error(`line 1: not a ${FORMAT} version ${VERSION} header; is this a bin/solute export?`);
      }
      if (row.type === 'key') keys.keys.push(row);
      else if (row.type === 'project') keys.projects.push(row);
      else if (row.type === 'event') {
        events.push({ index: events.length, raw: JSON.stringify(row.line), line: row.line });
        if (events.length >= CHUNK) await flushEvents();
      } else if (row.type === 'dead_letter') {
        dead.push(row);
        if (dead.length >= CHUNK) await flushDead();
      }
      if (lineNo % 100_000 === 0) logger.info({ lines: lineNo, ...counts }, 'importing');
    }
    await flushEvents();
    await flushDead();
    const k = await meta.importRows(keys);
    counts.keys = k.keys;
    counts.projects = k.projects;
    return counts;
  } finally {
    await meta.close();
    await pool.end();
    await store.close();
  }
}
