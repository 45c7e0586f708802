// The NATS connection and the JetStream stream that holds accepted events (SOLUTE_LOG=nats://...).
// One stream `<stream>` on subject `<stream>.events`, work-queue retention: a message stays until the
// processor group acknowledges it (after its store commit), then JetStream removes it. So the stream
// holds exactly the accepted-but-not-yet-stored events: bounded by the edge's backlog gate, with no
// max_age or max_bytes that could drop a message nobody has stored.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  DiscardPolicy,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
  type StreamConfig,
  type StreamInfo,
} from '@nats-io/jetstream';

export interface NatsConnectOptions {
  /** SOLUTE_LOG: `nats://host:port[,nats://host:port...]`. */
  servers: string;
  /** Shown by the server (connz) and in its logs, e.g. `solute-ingest-<pid>`. */
  name: string;
  /** Keep trying when no server answers at start (default true); false: reject at once. */
  waitOnFirstConnect?: boolean;
}

/**
 * Connects to the given servers (and the cluster members they announce), reconnecting forever: 0.25 s
 * after a loss, doubling up to 5 s, with jitter, so a NATS restart does not need a Solute restart.
 * A publish made while disconnected gets no PubAck in time and rejects (the edge answers 503).
 */
export function connectNats(opts: NatsConnectOptions): Promise<NatsConnection> {
  let attempt = 0;
  return connect({
    servers: opts.servers.split(',').map((s) => s.trim()).filter((s) => s.length > 0),
    name: opts.name,
    maxReconnectAttempts: -1,
    waitOnFirstConnect: opts.waitOnFirstConnect ?? true,
    reconnectDelayHandler: () => {
      const base = Math.min(5000, 250 * 2 ** Math.min(attempt++, 5));
      return base / 2 + Math.random() * (base / 2);
    },
    pingInterval: 10_000,
    maxPingOut: 3,
  }).then((nc) => {
    void (async () => {
      for await (const s of nc.status()) if (s.type === 'reconnect') attempt = 0;
    })();
    return nc;
  });
}

export interface StreamOptions {
  /** SOLUTE_NATS_STREAM: the stream's name; its subject is `<stream>.events`, its consumer `<stream>-processor`. */
  stream: string;
  /** SOLUTE_NATS_REPLICAS: 1 on a single server; 3 in a cluster (production). */
  replicas: number;
  /** SOLUTE_NATS_STORAGE. */
  storage: 'file' | 'memory';
  /** Publishes with the same Nats-Msg-Id inside this window are stored once (the log's own retries). */
  duplicateWindowMs: number;
}

export const DEFAULT_DUPLICATE_WINDOW_MS = 120_000;

export function eventsSubject(stream: string): string {
  return `${stream}.events`;
}

export function consumerName(stream: string): string {
  return `${stream}-processor`;
}

export class StreamConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StreamConfigError';
  }
}

/**
 * Creates the stream, or brings an existing one to the wanted replicas and duplicate window. Retention
 * and storage cannot be changed on a live stream: a mismatch is an error that names the fix, never a
 * silent delete (the stream may hold events nobody has stored yet).
 */
export async function ensureStream(jsm: JetStreamManager, opts: StreamOptions): Promise<StreamInfo> {
  const storage = opts.storage === 'memory' ? StorageType.Memory : StorageType.File;
  const wanted: Partial<StreamConfig> & { name: string } = {
    name: opts.stream,
    subjects: [eventsSubject(opts.stream)],
    retention: RetentionPolicy.Workqueue,
    storage,
    num_replicas: opts.replicas,
    duplicate_window: opts.duplicateWindowMs * 1_000_000,
    // No limits: acks remove messages; the edge's backlog gate bounds the stream. Were a limit ever
    // set by hand, `new` refuses publishes (503 at the edge) instead of dropping stored events.
    discard: DiscardPolicy.New,
    max_msgs: -1,
    max_bytes: -1,
    max_age: 0,
  };
  let info: StreamInfo;
  try {
    info = await jsm.streams.info(opts.stream);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    try {
      return await jsm.streams.add(wanted);
    } catch (addErr) {
      // Another process created it in between: fall through to the check.
      if (!isAlreadyInUse(addErr)) throw addErr;
      info = await jsm.streams.info(opts.stream);
    }
  }
  const c = info.config;
  if (c.retention !== RetentionPolicy.Workqueue) {
    throw new StreamConfigError(
      `JetStream stream "${opts.stream}" has ${c.retention} retention; Solute needs workqueue. Let the processors drain it, then delete it (nats stream rm ${opts.stream}) so Solute recreates it.`,
    );
  }
  if (c.storage !== storage) {
    throw new StreamConfigError(
      `JetStream stream "${opts.stream}" has ${c.storage} storage but SOLUTE_NATS_STORAGE=${opts.storage}. Storage cannot change on a live stream: drain and delete it, or set SOLUTE_NATS_STORAGE=${c.storage}.`,
    );
  }
  if (!c.subjects?.includes(eventsSubject(opts.stream))) {
    throw new StreamConfigError(`JetStream stream "${opts.stream}" does not listen on ${eventsSubject(opts.stream)}.`);
  }
  if (c.num_replicas !== opts.replicas || c.duplicate_window !== wanted.duplicate_window) {
    info = await jsm.streams.update(opts.stream, { ...c, num_replicas: opts.replicas, duplicate_window: wanted.duplicate_window });
  }
  return info;
}

export function isNotFound(err: unknown): boolean {
  if (err instanceof JetStreamApiError) return err.status === 404;
  return /not found/i.test((err as Error)?.message ?? '');
}

function isAlreadyInUse(err: unknown): boolean {
  return /already in use/i.test((err as Error)?.message ?? '');
}
