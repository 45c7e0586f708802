// Composition root: the only module that picks adapters. Starts Solute and shuts it down in order.
import fs from 'node:fs/promises';
import path from 'node:path';
import { pino, type Logger } from 'pino';
import type { Config } from './config.js';
import { dataPaths } from './data-paths.js';
import { createMetrics } from './metrics.js';
import { buildApp } from './ingest/app.js';
import { createAcceptBatch } from './ingest/accept-batch.js';
import { DedupeIndex } from './dedupe/dedupe-index.js';
import { SegmentLog, recoverSegments } from './log/segment.log.js';
import { Processor } from './process/processor.js';
import { createBatchSteps, createEventSteps, type EventStep } from './process/pipeline.js';
import { createBulkEnrich } from './process/steps/enrich.js';
import { DuckDbStore } from './store/duckdb/duckdb.store.js';
import { MetaStore } from './store/sqlite/meta.store.js';
import { startAdminServer, type AdminOps } from './admin/admin.server.js';
import { deadLetterOps } from './process/dead-letter-ops.js';
import { LiveFeed } from './console/live-feed.js';
import { SqliteSessionStore } from './store/sqlite/console-sessions.js';
import { duckDbStats } from './store/duckdb/stats.queries.js';
import { tightenTree } from './lib/private-files.js';
import { settlesBefore } from './lib/deadline.js';

export interface RunningSolute {
  url: string;
  logger: Logger;
  /** Resolves when every event acknowledged so far is stored (tests, benchmarks). */
  drained(): Promise<void>;
  close(): Promise<void>;
}

export { dataPaths };

/** The per-event processing steps, in order. */
function eventSteps(config: Config): EventStep[] {
  return createEventSteps({ ipMode: config.ipMode });
}

/** A data directory with wider modes (an older version, a copy) is narrowed to 0700/0600 at each start; one log line when anything changed. */
async function tightenDataDir(dataDir: string, logger: Logger): Promise<void> {
  const t = await tightenTree(dataDir);
  if (t.dirs + t.files + t.failedCount === 0) return;
  const line = { dataDir: path.resolve(dataDir), dirs: t.dirs, files: t.files, failedCount: t.failedCount, failed: t.failed };
  logger.warn(line, 'data directory: modes narrowed to 0700 (directories) and 0600 (files), for the Solute user only');
}

export interface StartOptions {
  /** Replaces the per-event steps (tests use it to make a step fail, as a bug would). */
  eventSteps?: EventStep[];
}

export async function startSolute(config: Config, logger: Logger = pino({ level: config.logLevel }), opts: StartOptions = {}): Promise<RunningSolute> {
  if (config.log !== '') {
    const { startCluster } = await import('./main-cluster.js');
    // As the embedded bulk path: the enrich step's own rule as lookups, unless tests replace the steps.
    const c = await startCluster(config, logger, opts.eventSteps ?? eventSteps(config), opts.eventSteps ? undefined : createBulkEnrich({ ipMode: config.ipMode }));
    return { url: c.url, logger, drained: c.drained, close: c.close };
  }
  if (config.store !== '') {
    throw new Error('SOLUTE_STORE (PostgreSQL) runs with SOLUTE_LOG (NATS JetStream): set both, or neither for the embedded default');
  }
  const paths = dataPaths(config.dataDir);
  await fs.mkdir(config.dataDir, { recursive: true });
  await tightenDataDir(config.dataDir, logger);
  const metrics = createMetrics();

  // 1. Metadata (keys), store, dedupe index.
  const meta = new MetaStore(paths.meta);
  meta.watch(config.keyRefreshMs);
  const sessions = new SqliteSessionStore(paths.meta); // console sessions, beside the keys
  const store = await DuckDbStore.open(paths.store, { memoryLimit: config.storeMemoryLimit, threads: config.storeThreads, checkpointThreshold: config.storeCheckpointThreshold }).catch((err: Error) => {
    // One process owns a data directory; say so plainly rather than with DuckDB's lock message alone.
    if (/lock/i.test(err.message)) throw new Error(`the data directory ${config.dataDir} is in use by another solute serve (${err.message})`);
    throw err;
  });
  const dedupe = await DedupeIndex.open(
    paths.dedupe,
    { windowDays: config.dedupeWindowDays, maxKeys: config.dedupeMaxKeys, maxKeysPerProject: config.dedupeMaxKeysPerProject },
    // A dedupe directory of the earlier layout (MurmurHash3 keys) is rebuilt from the stored events.
    (sinceMs) => store.messageIds(sinceMs),
    (keys) => logger.info({ keys }, 'dedupe index rebuilt from the store (keyed SipHash keys replace the earlier layout)'),
  );

  // 2. Recover what the log holds beyond the store's last commit; its keys join the dedupe index.
  const committed = await store.lastSegmentId();
  const recovered = await recoverSegments(paths.log, committed, dedupe.key.bind(dedupe));
  for (const seg of recovered.segments) {
    for (let i = 0; i < seg.count; i++) {
      // The log holds these events already: no per-project bound applies; only the table's capacity can stop the start.
      if (dedupe.restore(seg.keys, i * 4, seg.days[i], seg.projects[i]) === 'full') throw new Error('dedupe index full while recovering the log; raise SOLUTE_DEDUPE_MAX_KEYS');
    }
  }

  // 3. Processor, then the log that feeds it.
  const processor = new Processor({
    store,
    persistKeys: dedupe.persist.bind(dedupe),
    logger,
    steps: opts.eventSteps ?? eventSteps(config),
    // The bulk path applies the enrich step's own rule; with other steps (tests), every line takes the per-event path.
    ...(opts.eventSteps ? {} : { fileLoader: store, bulkEnrich: createBulkEnrich({ ipMode: config.ipMode }) }),
    batchSteps: createBatchSteps(config),
    groupEvents: config.processorBatchEvents,
    onLoaded: (_segments, result, seconds) => metrics.loaded(result, seconds),
  });
  const log = await SegmentLog.open(paths.log, {
    segmentMaxBytes: config.segmentMaxBytes,
    segmentMaxAgeMs: config.segmentMaxAgeMs,
    minSegmentId: Math.max(committed, recovered.segments.at(-1)?.id ?? 0),
    nextSeq: Math.max(await store.maxSeq(), recovered.maxSeq) + 1,
    onSegmentClosed: (seg) => processor.enqueue(seg),
  });
  for (const seg of recovered.segments) processor.enqueue(seg);
  if (recovered.segments.length > 0) {
    logger.info({ segments: recovered.segments.length, events: processor.backlog }, 'resuming processing of the log');
  }

  const expireTimer = setInterval(() => void dedupe.expire().catch((err) => logger.error({ err }, 'dedupe expiry failed')), 3_600_000);
  expireTimer.unref();

  // 4. HTTP.
  const backlog = () => processor.backlog + log.openCount;
  const projectBacklog = (project: string) => processor.backlogOf(project) + log.openCountOf(project);
  metrics.observe({ backlog, dedupeKeys: () => dedupe.stats().occupied, dedupeBytes: () => dedupe.stats().bytes });
  let accepting = true;
  const live = new LiveFeed({
    maxSubscribers: config.consoleLiveSubscribers,
    revalidateMs: config.keyRefreshMs,
    revalidate: (hashes) => sessions.stillValid(hashes, Date.now()),
    registry: metrics.registry,
  });
  const ops = deadLetterOps(store, processor);
  const app = buildApp(config, {
    logger,
    keys: meta,
    metrics,
    store,
    profiles: store,
    stats: await duckDbStats(store.queryConnection()),
    acceptBatch: createAcceptBatch(config, { log, dedupe, backlog, projectBacklog, tap: live }),
    console: { sessions, live, deadLetters: ops },
    readiness: () => ({
      accepting,
      logWritable: log.writable,
      dedupeLoaded: true,
      processorRunning: processor.running,
      backlogBelowLimit: backlog() < config.backlogMaxEvents,
    }),
  });
  const url = await app.listen({ port: config.port, host: config.host });
  const admin = await startAdminServer(paths.adminSocket, ops, logger);
  logger.info({ url, dataDir: config.dataDir, dedupeKeys: dedupe.stats().occupied }, 'solute listening');

  let closing: Promise<void> | null = null;
  const close = () =>
    (closing ??= (async () => {
      accepting = false;
      const deadline = Date.now() + config.shutdownTimeoutMs;
      clearInterval(expireTimer);
      // 1. Stop accepting and finish in-flight requests (each waits for its fsync).
      await admin?.close();
      await app.close();
      logger.debug('shutdown: http closed');
      // 2. Flush the log and hand its open segment to the processor.
      await log.close();
      logger.debug('shutdown: log closed');
      // 3. Store what is pending, within the deadline; the rest resumes at the next start.
      const finished = await settlesBefore(processor.stop(), deadline);
      if (!finished) logger.warn({ backlog: processor.backlog }, 'shutdown deadline reached; the rest of the log is stored at next start');
      logger.debug('shutdown: processor stopped');
      // 4. Close the stores.
      await store.close();
      await sessions.close();
      meta.close();
      logger.info('solute stopped');
    })());

  return { url, logger, drained: () => processor.drained(), close };
}

/** The store and the processor without HTTP or log: bin/solute dead-letters when no server runs. */
export async function openOffline(config: Config, logger: Logger): Promise<AdminOps & { close(): Promise<void> }> {
  if (config.store !== '') {
    // PostgreSQL takes any number of writers: the CLI works beside running servers.
    const { PgStore } = await import('./store/postgres/pg.store.js');
    const { BatchLoader } = await import('./process/batch-loader.js');
    const { schemaFor } = await import('./store/postgres/pg.schema-name.js');
    const store = await PgStore.open(config.store, { schema: await schemaFor(config.store, config.pgSchema) });
    return { ...deadLetterOps(store, new BatchLoader({ store, logger, steps: eventSteps(config), batchSteps: createBatchSteps(config) })), close: () => store.close() };
  }
  const paths = dataPaths(config.dataDir);
  const store = await DuckDbStore.open(paths.store, { memoryLimit: config.storeMemoryLimit, threads: config.storeThreads, checkpointThreshold: config.storeCheckpointThreshold });
  const processor = new Processor({ store, persistKeys: async () => undefined, logger, steps: eventSteps(config), batchSteps: createBatchSteps(config) });
  return { ...deadLetterOps(store, processor), close: () => store.close() };
}
