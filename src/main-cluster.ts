// Composition root of a cluster process (SOLUTE_LOG=nats://..., SOLUTE_STORE=postgres://...): the
// durable log is a NATS JetStream stream, the store (events, dedupe, profiles, groups, dead letters,
// keys) is PostgreSQL, and the process keeps nothing of its own. SOLUTE_ROLE picks what it runs:
// `ingest` (the HTTP edge: acknowledges after JetStream's PubAck), `processor` (a member of the
// stream's durable consumer: stores, then acknowledges to JetStream), or `all` (both).
import pg from 'pg';
import { jetstreamManager } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import { createMetrics } from './metrics.js';
import { buildApp } from './ingest/app.js';
import { createAcceptBatch } from './ingest/accept-batch.js';
import { RecentKeys } from './dedupe/recent-keys.js';
import { connectNats, ensureStream, DEFAULT_DUPLICATE_WINDOW_MS, StreamConfigError } from './log/nats.connection.js';
import { NatsLog } from './log/nats.log.js';
import { NatsSource } from './log/nats.source.js';
import { BatchLoader } from './process/batch-loader.js';
import { createBatchSteps } from './process/pipeline.js';
import type { EventStep } from './process/pipeline.js';
import type { BulkEnrich } from './contracts/event-store.js';
import { PgStore } from './store/postgres/pg.store.js';
import { PgMetaStore } from './store/postgres/pg.meta.js';
import { schemaFor } from './store/postgres/pg.schema-name.js';
import { PgSessionStore } from './store/postgres/pg.console-sessions.js';
import { LiveFeed } from './console/live-feed.js';
import { deadLetterOps } from './process/dead-letter-ops.js';
import { settlesBefore } from './lib/deadline.js';

export interface ClusterHandle {
  url: string;
  drained(): Promise<void>;
  close(): Promise<void>;
}

/** Retries a start-up step that depends on JetStream for up to 2 minutes, with backoff. */
async function retry<T>(logger: Logger, what: string, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 120_000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof StreamConfigError || Date.now() > deadline) throw err;
      const wait = Math.min(5000, 250 * 2 ** attempt);
      logger.warn({ err, attempt, retryInMs: wait }, `${what} failed; retrying`);
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

/** Recent keys an ingest process remembers for its best-effort duplicate count (two generations). */
const RECENT_KEYS = 1_000_000;

/**
 * `bulkEnrich`: the enrich step as lookups, given with the default steps only; the processor then
 * stores bulk-rule events without parsing them (process/pipeline.ts).
 */
export async function startCluster(config: Config, logger: Logger, steps: EventStep[], bulkEnrich?: Pick<BulkEnrich, 'userAgent'>): Promise<ClusterHandle> {
  const metrics = createMetrics();
  const ingest = config.role !== 'processor';
  const processor = config.role !== 'ingest';

  // 1. The store and the keys, both in PostgreSQL (migrations run at open, under an advisory lock).
  const schema = await schemaFor(config.store, config.pgSchema);
  const store = await PgStore.open(config.store, { schema });
  const metaPool = new pg.Pool({ connectionString: config.store, max: 4 }); // keys, and console sessions
  metaPool.on('error', (err) => logger.warn({ err }, 'PostgreSQL connection of the key store lost'));
  const meta = await PgMetaStore.open(metaPool, { schema, logger });
  await meta.watch(config.keyRefreshMs);
  const sessions = await PgSessionStore.open(metaPool, meta.schema); // console sessions, valid on every process

  // 2. The log: the stream, and the durable consumer (its backlog is what ingest's bound reads).
  const nc = await connectNats({ servers: config.log, name: `solute-${config.role}-${process.pid}` });
  // JetStream may be electing a leader (a node just died, or the cluster is starting): retry, do not exit.
  const streamInfo = await retry(logger, 'JetStream stream setup', async () =>
    ensureStream(await jetstreamManager(nc), {
      stream: config.natsStream,
      replicas: config.natsReplicas,
      storage: config.natsStorage,
      duplicateWindowMs: DEFAULT_DUPLICATE_WINDOW_MS,
      maxBytes: config.natsMaxBytes,
      maxMessages: config.natsMaxMessages,
    }),
  );
  const source = await retry(logger, 'JetStream consumer setup', () => NatsSource.open(nc, { stream: config.natsStream, logger, uncountedEvents: config.maxBatchEvents }));
  // Batch ids are stream sequences; a stream deleted and made again starts them over, so the store
  // keys its once-only record on the stream's creation time too.
  const logSource = `nats:${config.natsStream}:${streamInfo.created}`;

  // 3. Processor: the messages that are here, through the steps into the store in one transaction,
  // acknowledged to JetStream only after the commit.
  if (processor) {
    const loader = new BatchLoader({ store, logger, steps, bulkEnrich, batchSteps: createBatchSteps(config) });
    source.startGroups(async (batches) => {
      const started = process.hrtime.bigint();
      const { result, failed } = await loader.loadMany(batches, logSource);
      metrics.loaded(result, Number(process.hrtime.bigint() - started) / 1e9);
      return failed;
    });
  }

  // 4. HTTP: the edge (ingest) and the read API (every role).
  let log: NatsLog | null = null;
  // Events in the stream (its per-subject counts), plus those being published.
  const backlog = () => source.backlogEvents() + (log?.openCount ?? 0);
  const dedupe = new RecentKeys(RECENT_KEYS);
  if (ingest) log = await retry(logger, 'JetStream log setup', () => NatsLog.open(nc, { stream: config.natsStream }));
  metrics.observe({ backlog, dedupeKeys: () => dedupe.stats().occupied, dedupeBytes: () => dedupe.stats().bytes });
  metrics.observeConsumer({ lagMessages: () => source.backlog(), lagSeconds: () => source.lagSeconds() });
  let accepting = true;
  // The live view sees the events this process acknowledges (an ingest role); replays run here, in any role.
  const live = log
    ? new LiveFeed({ maxSubscribers: config.consoleLiveSubscribers, revalidateMs: config.keyRefreshMs, revalidate: (h) => sessions.stillValid(h, Date.now()), registry: metrics.registry })
    : undefined;
  const app = buildApp(config, {
    logger,
    keys: meta,
    metrics,
    store,
    profiles: store,
    stats: store.stats(),
    acceptBatch: log ? createAcceptBatch(config, { log, dedupe, backlog, tap: live }) : undefined,
    console: { sessions, live, deadLetters: deadLetterOps(store, new BatchLoader({ store, logger, steps, batchSteps: createBatchSteps(config) })) },
    readiness: () => ({
      accepting,
      logWritable: log?.writable ?? !nc.isClosed(),
      dedupeLoaded: true,
      // A processor's consumer loop: pulling, and its groups not all failing (nats.source.ts healthy).
      processorRunning: !processor || source.healthy,
      backlogBelowLimit: backlog() < config.backlogMaxEvents,
      // An ingest process: the stream takes publishes (below SOLUTE_NATS_MAX_BYTES / _MAX_MESSAGES).
      streamBelowLimit: !ingest || !source.streamFull(),
    }),
  });
  const url = await app.listen({ port: config.port, host: config.host });
  logger.info({ url, role: config.role, stream: config.natsStream, replicas: config.natsReplicas }, 'solute listening (cluster)');

  let closing: Promise<void> | null = null;
  return {
    url,
    async drained() {
      while ((await source.refreshBacklog()) > 0 || (log?.openCount ?? 0) > 0) await new Promise((r) => setTimeout(r, 50));
    },
    close: () =>
      (closing ??= (async () => {
        accepting = false;
        // One deadline for the whole shutdown, as embedded (SOLUTE_SHUTDOWN_TIMEOUT_MS).
        const deadline = Date.now() + config.shutdownTimeoutMs;
        await app.close(); // in-flight requests finish: each waits for its PubAck
        await log?.close();
        // The group in progress is committed and acknowledged, or nak'ed; past the deadline its messages
        // return to the other processors after ack_wait (the store skips what was committed).
        const stopped = await settlesBefore(source.stop(), deadline);
        if (!stopped) logger.warn('shutdown deadline reached with a group in progress; JetStream hands its messages out again');
        await nc.drain().catch(() => undefined);
        await store.close();
        await meta.close();
        await metaPool.end();
        logger.info('solute stopped');
      })()),
  };
}
