// The only module that reads process.env. Every setting, its env var and its default live here;
// the result is validated once and frozen, then passed down as an argument.
import { Type, type Static } from '@sinclair/typebox';
import { Ajv } from 'ajv';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const MiB = 1024 * 1024;

export const ConfigSchema = Type.Object(
  {
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 8080 }),
    host: Type.String({ default: '0.0.0.0' }),
    dataDir: Type.String({ default: './data' }),
    /** all = ingest + processor in one process; ingest / processor run one side only. */
    role: Type.Union([Type.Literal('all'), Type.Literal('ingest'), Type.Literal('processor')], { default: 'all' }),
    logLevel: Type.Union(
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
      { default: 'info' },
    ),
    /** Request body limit in bytes (decoded). */
    bodyLimitBytes: Type.Integer({ minimum: 1024, default: 1 * MiB }),
    /** Events per batch on /api/events (the spec's "batches of up to 100"). */
    maxBatchEvents: Type.Integer({ minimum: 1, default: 100 }),
    /** Serialized size limit of one event, like Segment's 32 KB. */
    maxEventBytes: Type.Integer({ minimum: 256, default: 32 * 1024 }),
    /** Dedupe window in days of receivedAt; a messageId is recognised for at least this long. */
    dedupeWindowDays: Type.Integer({ minimum: 1, maximum: 3650, default: 7 }),
    /** Hard cap on keys held by the dedupe index (~30-60 bytes of RAM per key); past it ingest answers 503. */
    dedupeMaxKeys: Type.Integer({ minimum: 1024, default: 50_000_000 }),
    /** Live dedupe keys one project may hold; past it that project alone gets 429 (its own code). */
    dedupeMaxKeysPerProject: Type.Integer({ minimum: 1024, default: 25_000_000 }),
    /** Accepted-but-not-yet-stored events above which ingest answers 503 with Retry-After. */
    backlogMaxEvents: Type.Integer({ minimum: 1, default: 2_000_000 }),
    /** The same bound for one project's events (embedded mode): past it that project alone gets 503. */
    projectBacklogMaxEvents: Type.Integer({ minimum: 1, default: 1_000_000 }),
    /** A log segment is closed and handed to the processor past this size ... */
    segmentMaxBytes: Type.Integer({ minimum: 4096, default: 8 * MiB }),
    /** ... or this age (ms), whichever comes first; bounds the delay until an event is queryable. */
    segmentMaxAgeMs: Type.Integer({ minimum: 10, default: 1000 }),
    /** DuckDB memory_limit (e.g. '512MB'); bounds the store's share of RSS. */
    storeMemoryLimit: Type.String({ default: '256MB' }),
    /** DuckDB's checkpoint_threshold: WAL size that triggers a checkpoint. Larger loads faster (fewer,
     * bigger checkpoints: 106k→134k rows/s from 16MB to 256MB here) but replays more WAL after a crash. */
    storeCheckpointThreshold: Type.String({ default: '256MB' }),
    /** DuckDB's worker threads, for loads and queries alike (one setting per database). Default: one core
     * fewer than the machine has, at least 1, so a load never takes the core the event loop answers on:
     * on 2 cores, 1 thread loaded as fast as 2 for about 30% less CPU an event, and under load the
     * sustained rate rose ~40% (BENCHMARKS.md); queries on an idle machine take ~1.6x longer than with 2. */
    storeThreads: Type.Integer({ minimum: 1, default: Math.max(1, os.availableParallelism() - 1) }),
    /** Queued events one embedded load may take (whole segments, at least one): a backlog is stored in
     * few large transactions (the stateful steps' statements and the commit paid per load). */
    processorBatchEvents: Type.Integer({ minimum: 1, default: 131_072 }),
    /** `bin/solute serve`: the nice value of every thread but the event loop's (DuckDB, libuv's pool); 0 (the
     * default) leaves them alone. One A/B pair was inconclusive (BENCHMARKS.md), so it is off by default. */
    backgroundNice: Type.Integer({ minimum: 0, maximum: 19, default: 0 }),
    /** How often key revocations made by the CLI are picked up (ms). */
    keyRefreshMs: Type.Integer({ minimum: 50, default: 1000 }),
    /** Lifetime of a console session (ms); 12 hours. Signing out, or revoking the key, ends it earlier. */
    consoleSessionMs: Type.Integer({ minimum: 1000, default: 12 * 3_600_000 }),
    /** Live-view streams (console tabs watching live events) open at once on this process; more get 503. */
    consoleLiveSubscribers: Type.Integer({ minimum: 1, default: 32 }),
    /** Hard deadline for graceful shutdown (ms). */
    shutdownTimeoutMs: Type.Integer({ minimum: 100, default: 10_000 }),
    /** Time a client has to send its request headers (ms); slower clients get 408 and are disconnected. */
    headersTimeoutMs: Type.Integer({ minimum: 100, default: 10_000 }),
    /** Time a client has to send a whole request, headers and body (ms); 1 MiB at 1 Mbit/s takes ~8 s. */
    requestTimeoutMs: Type.Integer({ minimum: 100, default: 30_000 }),
    /** A connection silent this long is closed (ms); keep-alive sockets between requests included. */
    idleTimeoutMs: Type.Integer({ minimum: 100, default: 60_000 }),
    /** Open connections at most; more are refused at once, so slow or idle clients cannot exhaust the server. */
    maxConnections: Type.Integer({ minimum: 1, default: 1024 }),
    /** Request bodies held at once on the ingest routes (bytes, by Content-Length); past it 503. Memory
     * for them is ~3x this (raw, string, parsed). */
    maxBytesInFlight: Type.Integer({ minimum: 1024, default: 128 * MiB }),
    /** The same bound for one project's requests (known by their header key before the body is read). */
    projectMaxBytesInFlight: Type.Integer({ minimum: 1024, default: 64 * MiB }),
    /** Open connections from one peer IP at most (a listed trusted proxy is exempt); past it new ones are closed at once. */
    maxConnectionsPerIp: Type.Integer({ minimum: 1, default: 256 }),
    /** Seconds advertised in Retry-After on 503. */
    retryAfterSeconds: Type.Integer({ minimum: 1, default: 5 }),
    /** Peers whose X-Forwarded-For is believed: comma-separated IPs, CIDRs or proxy-addr's names
     * (loopback, linklocal, uniquelocal). Empty: none; the client IP is the socket's peer. */
    trustedProxies: Type.String({ default: '' }),
    /** What the processor does with context.ip: keep it, truncate it (IPv4 /24, IPv6 /48) or drop it
     * (then the edge does not even write the client IP into the log). */
    ipMode: Type.Union([Type.Literal('keep'), Type.Literal('truncate'), Type.Literal('drop')], { default: 'keep' }),
    /** Bounds on state (docs/api.md, "Bounds"), applied by the processor after the acknowledgement: what
     * would pass one is not applied to the profile or group, and a warning records it. Traits per
     * profile or group: */
    maxTraits: Type.Integer({ minimum: 1, default: 1000 }),
    /** ... and bytes of them, as JSON (UTF-8): 256 KiB. */
    maxTraitsBytes: Type.Integer({ minimum: 64, default: 256 * 1024 }),
    /** Ids linked to one profile (userIds and anonymousIds, all its devices and logins). */
    maxLinkedIds: Type.Integer({ minimum: 1, default: 1000 }),
    /** ... and bytes of them, summed (UTF-8): 64 KiB. */
    maxLinkedIdsBytes: Type.Integer({ minimum: 64, default: 64 * 1024 }),
    /** The durable log: empty = the embedded segment log in the data directory; `nats://host:port[,nats://...]` = NATS JetStream. */
    log: Type.String({ default: '', pattern: '^(|nats://[^,\\s]+(,nats://[^,\\s]+)*)$' }),
    /** The store: empty = the embedded DuckDB + SQLite in the data directory; `postgres://...` = PostgreSQL. */
    store: Type.String({ default: '', pattern: '^(|postgres(ql)?://\\S+)$' }),
    /** JetStream stream name (and prefix of its subject and consumer), so installations can share one NATS. */
    natsStream: Type.String({ default: 'solute', pattern: '^[A-Za-z0-9_-]{1,64}$' }),
    /** JetStream replicas of the stream: 1 on a single server, 3 in a production cluster (a quorum holds each write). */
    natsReplicas: Type.Integer({ minimum: 1, maximum: 5, default: 1 }),
    /** JetStream storage of the stream: file (survives a NATS restart) or memory. */
    natsStorage: Type.Union([Type.Literal('file'), Type.Literal('memory')], { default: 'file' }),
    /** Bounds of the stream (the events accepted and not yet stored): past either, JetStream refuses new
     * messages (discard: new) and ingest answers 503 (429 on /v1) with Retry-After; nothing stored is dropped. */
    natsMaxBytes: Type.Integer({ minimum: 1_048_576, default: 1_073_741_824 }),
    natsMaxMessages: Type.Integer({ minimum: 1, default: 1_000_000 }),
    /** PostgreSQL schema holding Solute's tables (created if missing), so installations can share one
     * database. Empty: the schema the URL's connection uses (its search_path; usually public). */
    pgSchema: Type.String({ default: '', pattern: '^([a-z_][a-z0-9_]{0,62})?$' }),
  },
  { additionalProperties: false },
);
export type Config = Readonly<Static<typeof ConfigSchema>>;

const ENV: Record<keyof Static<typeof ConfigSchema>, string> = {
  port: 'PORT',
  host: 'SOLUTE_HOST',
  dataDir: 'SOLUTE_DATA_DIR',
  role: 'SOLUTE_ROLE',
  logLevel: 'SOLUTE_LOG_LEVEL',
  bodyLimitBytes: 'SOLUTE_BODY_LIMIT_BYTES',
  maxBatchEvents: 'SOLUTE_MAX_BATCH_EVENTS',
  maxEventBytes: 'SOLUTE_MAX_EVENT_BYTES',
  dedupeWindowDays: 'SOLUTE_DEDUPE_WINDOW_DAYS',
  dedupeMaxKeys: 'SOLUTE_DEDUPE_MAX_KEYS',
  dedupeMaxKeysPerProject: 'SOLUTE_DEDUPE_MAX_KEYS_PER_PROJECT',
  projectBacklogMaxEvents: 'SOLUTE_PROJECT_BACKLOG_MAX_EVENTS',
  projectMaxBytesInFlight: 'SOLUTE_PROJECT_MAX_BYTES_IN_FLIGHT',
  maxConnectionsPerIp: 'SOLUTE_MAX_CONNECTIONS_PER_IP',
  backlogMaxEvents: 'SOLUTE_BACKLOG_MAX_EVENTS',
  segmentMaxBytes: 'SOLUTE_SEGMENT_MAX_BYTES',
  segmentMaxAgeMs: 'SOLUTE_SEGMENT_MAX_AGE_MS',
  storeMemoryLimit: 'SOLUTE_STORE_MEMORY_LIMIT',
  storeCheckpointThreshold: 'SOLUTE_STORE_CHECKPOINT_THRESHOLD',
  storeThreads: 'SOLUTE_STORE_THREADS',
  processorBatchEvents: 'SOLUTE_PROCESSOR_BATCH_EVENTS',
  backgroundNice: 'SOLUTE_BACKGROUND_NICE',
  keyRefreshMs: 'SOLUTE_KEY_REFRESH_MS',
  consoleSessionMs: 'SOLUTE_CONSOLE_SESSION_MS',
  consoleLiveSubscribers: 'SOLUTE_CONSOLE_LIVE_SUBSCRIBERS',
  shutdownTimeoutMs: 'SOLUTE_SHUTDOWN_TIMEOUT_MS',
  retryAfterSeconds: 'SOLUTE_RETRY_AFTER_SECONDS',
  headersTimeoutMs: 'SOLUTE_HEADERS_TIMEOUT_MS',
  requestTimeoutMs: 'SOLUTE_REQUEST_TIMEOUT_MS',
  idleTimeoutMs: 'SOLUTE_IDLE_TIMEOUT_MS',
  maxConnections: 'SOLUTE_MAX_CONNECTIONS',
  maxBytesInFlight: 'SOLUTE_MAX_BYTES_IN_FLIGHT',
  trustedProxies: 'SOLUTE_TRUSTED_PROXIES',
  ipMode: 'SOLUTE_IP_MODE',
  maxTraits: 'SOLUTE_MAX_TRAITS',
  maxTraitsBytes: 'SOLUTE_MAX_TRAITS_BYTES',
  maxLinkedIds: 'SOLUTE_MAX_LINKED_IDS',
  maxLinkedIdsBytes: 'SOLUTE_MAX_LINKED_IDS_BYTES',
  log: 'SOLUTE_LOG',
  store: 'SOLUTE_STORE',
  natsStream: 'SOLUTE_NATS_STREAM',
  natsReplicas: 'SOLUTE_NATS_REPLICAS',
  natsStorage: 'SOLUTE_NATS_STORAGE',
  natsMaxBytes: 'SOLUTE_NATS_MAX_BYTES',
  natsMaxMessages: 'SOLUTE_NATS_MAX_MESSAGES',
  pgSchema: 'SOLUTE_PG_SCHEMA',
};
export const CONFIG_ENV_VARS: Readonly<Record<string, string>> = ENV;

const validate = new Ajv({ coerceTypes: true, useDefaults: true, allErrors: true }).compile(ConfigSchema);

/** Builds the frozen config from the environment plus explicit overrides (CLI flags, tests). */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const raw: Record<string, unknown> = {};
  for (const [key, name] of Object.entries(ENV)) {
    const v = env[name];
    if (v !== undefined && v !== '') raw[key] = v;
  }
  Object.assign(raw, overrides);
  if (!validate(raw)) {
    const msg = (validate.errors ?? [])
      .map((e) => `${ENV[e.instancePath.slice(1) as keyof typeof ENV] ?? e.instancePath}: ${e.message}`)
      .join('; ');
    throw new Error(`invalid configuration: ${msg}`);
  }
  const cfg = raw as Static<typeof ConfigSchema>;
  if (cfg.backlogMaxEvents < cfg.maxBatchEvents) {
    // A full batch could then never be accepted, even with an empty backlog.
    throw new Error(`invalid configuration: SOLUTE_BACKLOG_MAX_EVENTS (${cfg.backlogMaxEvents}) must be at least SOLUTE_MAX_BATCH_EVENTS (${cfg.maxBatchEvents})`);
  }
  if (cfg.projectBacklogMaxEvents < cfg.maxBatchEvents) {
    throw new Error(`invalid configuration: SOLUTE_PROJECT_BACKLOG_MAX_EVENTS (${cfg.projectBacklogMaxEvents}) must be at least SOLUTE_MAX_BATCH_EVENTS (${cfg.maxBatchEvents})`);
  }
  if (cfg.role !== 'all' && cfg.log === '') {
    throw new Error(`invalid configuration: SOLUTE_ROLE=${cfg.role} needs a shared log (SOLUTE_LOG=nats://...); the embedded log is read by the process that writes it`);
  }
  if (cfg.log !== '' && cfg.store === '') {
    // Several processes share the log; the embedded store belongs to one process and one machine.
    throw new Error('invalid configuration: SOLUTE_LOG (NATS) needs SOLUTE_STORE (PostgreSQL): processors on several machines share one store');
  }
  cfg.dataDir = path.resolve(cfg.dataDir);
  cfg.trustedProxies = normalizeTrustedProxies(cfg.trustedProxies);
  return Object.freeze(cfg);
}

const PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/**
 * SOLUTE_TRUSTED_PROXIES checked and written back as `a,b,c` (no spaces, no empty entries), so the
 * HTTP edge only splits it. Each entry: an IP, an IP/prefix, or one of proxy-addr's names. Checked here
 * so that a typo stops the start with the variable's name rather than as an error from inside Fastify.
 */
function normalizeTrustedProxies(value: string): string {
  const entries = value.split(',').map((e) => e.trim()).filter((e) => e !== '');
  for (const entry of entries) {
    if (PROXY_NAMES.has(entry)) continue;
    const slash = entry.indexOf('/');
    const ip = slash === -1 ? entry : entry.slice(0, slash);
    const family = net.isIP(ip);
    const prefix = slash === -1 ? null : entry.slice(slash + 1);
    const prefixOk = prefix === null || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128));
    if (family === 0 || ip.includes('%') || !prefixOk) {
      throw new Error(
        `invalid configuration: SOLUTE_TRUSTED_PROXIES: ${JSON.stringify(entry)} is not an IP address, a CIDR range (IP/prefix) or one of loopback, linklocal, uniquelocal`,
      );
    }
  }
  return entries.join(',');
}
