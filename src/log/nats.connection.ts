// The NATS connection and the JetStream stream that holds accepted events (SOLUTE_LOG=nats://...).
// One stream `<stream>` on subjects `<stream>.events.<n>` (a message of n events; `<stream>.events`
// from earlier versions), work-queue retention: a message stays until the processor group
// acknowledges it (after its store commit), then JetStream removes it. So the stream holds exactly
// the accepted-but-not-yet-stored events, and its per-subject counts say how many events that is.
// Bounded by max_bytes and max_msgs with discard `new`: a full stream refuses new messages (the edge
// answers 503) and never drops one nobody has stored; no max_age.
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
    // No Error (with its stack) made ahead of every request in case it fails: each JetStream publish
    // is a request, and capturing a stack per publish cost the edge ~36 µs (measured, issue 12). A
    // failed publish still rejects with the client's error; only the caller's stack is missing from it.
    noAsyncTraces: true,
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
  /** SOLUTE_NATS_MAX_BYTES and SOLUTE_NATS_MAX_MESSAGES: the stream's bounds, applied to an existing stream too (default: none). */
  maxBytes?: number;
  maxMessages?: number;
}

export const DEFAULT_DUPLICATE_WINDOW_MS = 120_000;

/** The subject of the earlier versions' messages (their event count unknown); still read. */
export function eventsSubject(stream: string): string {
  return `${stream}.events`;
}

/** The subject of a message that holds `events` events: the stream's per-subject counts add up the backlog in events. */
export function countedSubject(stream: string, events: number): string {
  return `${stream}.events.${events}`;
}

function countedSubjects(stream: string): string {
  return `${stream}.events.*`;
}

/** Messages and events in the stream (all of them accepted and not yet stored: work-queue retention). */
export interface StreamBacklog {
  messages: number;
  bytes: number;
  /** Events, counted exactly from the subjects; messages of the earlier subject count `uncountedAs` each. */
  events: number;
  /** Epoch ms of the oldest message, null when empty. */
  oldestMs: number | null;
  maxBytes: number;
  maxMessages: number;
}

/** The stream's state, with its events added up from the per-subject counts. */
export async function streamBacklog(jsm: JetStreamManager, stream: string, uncountedAs: number): Promise<StreamBacklog> {
  const info = await jsm.streams.info(stream, { subjects_filter: countedSubjects(stream) });
  const prefix = `${stream}.events.`;
  let events = 0;
  let counted = 0;
  for (const [subject, n] of Object.entries(info.state.subjects ?? {})) {
    if (!subject.startsWith(prefix)) continue;
    const each = Number(subject.slice(prefix.length));
    if (!Number.isFinite(each)) continue;
    events += each * n;
    counted += n;
  }
  events += Math.max(0, info.state.messages - counted) * uncountedAs;
  const first = info.state.messages > 0 ? Date.parse(info.state.first_ts) : NaN;
  return {
    messages: info.state.messages,
    bytes: info.state.bytes,
    events,
    oldestMs: Number.isFinite(first) ? first : null,
    maxBytes: info.config.max_bytes,
    maxMessages: info.config.max_msgs,
  };
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
    subjects: [eventsSubject(opts.stream), countedSubjects(opts.stream)],
    retention: RetentionPolicy.Workqueue,
    storage,
    num_replicas: opts.replicas,
    duplicate_window: opts.duplicateWindowMs * 1_000_000,
    // Acks remove messages; past a bound, `new` refuses publishes (503 at the edge) instead of
    // dropping events nobody has stored.
    discard: DiscardPolicy.New,
    max_msgs: opts.maxMessages ?? -1,
    max_bytes: opts.maxBytes ?? -1,
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
  const subjects = [...new Set([...(c.subjects ?? []), ...wanted.subjects!])];
  if (
    c.num_replicas !== opts.replicas ||
    c.duplicate_window !== wanted.duplicate_window ||
    c.max_bytes !== wanted.max_bytes ||
    c.max_msgs !== wanted.max_msgs ||
    c.discard !== DiscardPolicy.New ||
    subjects.length !== (c.subjects ?? []).length
  ) {
    // A stream of an earlier version gains the counted subjects and the bounds (a bound below what it
    // holds only refuses new messages until the processors drain it).
    info = await jsm.streams.update(opts.stream, {
      ...c,
      subjects,
      num_replicas: opts.replicas,
      duplicate_window: wanted.duplicate_window,
      max_bytes: wanted.max_bytes,
      max_msgs: wanted.max_msgs,
      discard: DiscardPolicy.New,
    });
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
