// The processors' side of the JetStream log: one durable pull consumer, `<stream>-processor`, shared by
// every processor process (each pulls its own messages; JetStream hands a message to one at a time).
// A message is acknowledged only after the handler (the store commit) resolved. A processor killed
// mid-batch never acked, so after ack_wait JetStream delivers the message again, to any processor; the
// store's commit is keyed by the message's stream sequence, so the redelivery stores nothing twice.
import type { NatsConnection } from '@nats-io/transport-node';
import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  type Consumer,
  type ConsumerConfig,
  type ConsumerMessages,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { consumerName, isNotFound, streamBacklog, type StreamBacklog } from './nats.connection.js';

/**
 * How long a message handed to a processor stays its own without news: the processor renews it every
 * third of this while its commit runs, so only a dead (or frozen) processor lets it lapse, and then
 * another processor gets the message this long after. Short, so a killed processor delays little;
 * a lapse during a slow commit only costs a redelivery the store skips.
 */
const ACK_WAIT_MS = 15_000;
/** At most this many messages (and about this many bytes) in one group, stored in one transaction. */
const GROUP_MESSAGES = 128;
const GROUP_BYTES = 16 * 1024 * 1024;
/**
 * Groups handed to the handler and not yet acknowledged: with a store whose commits run at once
 * (PostgreSQL), one inserting, one copying, one being prepared. Measured on one draining processor
 * (128-message groups): 2 in flight 15k events/s, 3: 22.8k, 4: 21.4k (BENCHMARKS.md).
 */
const IN_FLIGHT_GROUPS = 3;
const IDLE = Symbol('idle');
/** Resolves after the promises already settled have been seen (a macrotask later). */
const immediate = () => new Promise<typeof IDLE>((r) => setImmediate(() => r(IDLE)));

export interface SourceLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface NatsSourceOptions {
  /** SOLUTE_NATS_STREAM. */
  stream: string;
  logger: SourceLogger;
  /** Time a processor has to commit a message before JetStream gives it to another (kept alive while the handler runs). */
  ackWaitMs?: number;
  /** Messages handed out and not yet acknowledged, across all processors. */
  maxAckPending?: number;
  /** First redelivery delay after a handler failure; doubles per delivery up to maxNakDelayMs. */
  nakDelayMs?: number;
  maxNakDelayMs?: number;
  /** Most messages in one group (one pull, one store transaction); default 128. */
  groupMessages?: number;
  /** A group ends once it holds this many bytes; default 16 MiB. */
  groupBytes?: number;
  /** The loop counts as stalled after this long without a pull or a group done; default 60 s. */
  stallMs?: number;
  /** Events counted for a message of an earlier version, whose subject does not say (SOLUTE_MAX_BATCH_EVENTS). */
  uncountedEvents?: number;
}

/** One JetStream message of the log: `id` is its stream sequence, `text` its NDJSON lines. */
export interface LogBatch {
  id: number;
  text: string;
}

export class NatsSource {
  private running: Promise<void> | null = null;
  private stopping = false;
  private cachedBacklog = 0;
  private stream: StreamBacklog | null = null;
  private lastProgress = Date.now();
  private failedGroups = 0;
  private readonly stallMs: number;
  private readonly timer: NodeJS.Timeout;
  private readonly name: string;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private consumer: Consumer,
    private readonly opts: NatsSourceOptions,
  ) {
    this.name = consumerName(opts.stream);
    this.stallMs = opts.stallMs ?? 60_000;
    this.timer = setInterval(() => void this.refreshBacklog().catch(() => undefined), 1000);
    this.timer.unref();
  }

  /** Creates (or updates) the durable consumer on an existing stream and binds to it. */
  static async open(nc: NatsConnection, opts: NatsSourceOptions): Promise<NatsSource> {
    const jsm = await jetstreamManager(nc);
    await ensureConsumer(jsm, opts);
    const consumer = await jetstream(nc).consumers.get(opts.stream, consumerName(opts.stream));
    const source = new NatsSource(nc, jsm, consumer, opts);
    await source.refreshBacklog().catch(() => undefined);
    return source;
  }

  /** Messages not yet acknowledged: waiting, plus handed out (the consumer's lag). Cached, refreshed every second. */
  backlog(): number {
    return this.cachedBacklog;
  }

  /** Events in the stream, all accepted and not yet stored (work-queue retention), from its per-subject counts. */
  backlogEvents(): number {
    return this.stream?.events ?? 0;
  }

  /** Age of the oldest message not yet stored, in seconds; 0 when there is none. */
  lagSeconds(now = Date.now()): number {
    const oldest = this.stream?.oldestMs ?? null;
    return oldest === null ? 0 : Math.max(0, (now - oldest) / 1000);
  }

  /** True when the stream is at a bound (SOLUTE_NATS_MAX_BYTES / _MAX_MESSAGES): publishes are refused until processors catch up. */
  streamFull(): boolean {
    const st = this.stream;
    if (!st) return false;
    return (st.maxMessages > 0 && st.messages >= st.maxMessages) || (st.maxBytes > 0 && st.bytes >= st.maxBytes);
  }

  /** Asks the server now (and updates the cached values); resolves with the consumer's lag in messages. */
  async refreshBacklog(): Promise<number> {
    const [info, stream] = await Promise.all([this.consumer.info(false), streamBacklog(this.jsm, this.opts.stream, this.opts.uncountedEvents ?? 100)]);
    this.cachedBacklog = info.num_pending + info.num_ack_pending;
    this.stream = stream;
    return this.cachedBacklog;
  }

  /** Calls `handler` per message, one at a time, until stop(); a message whose handler threw is handed out again later. */
  start(handler: (batch: LogBatch) => Promise<void>): void {
    this.startGroups(async (batches) => {
      const failed: number[] = [];
      for (const b of batches) {
        try {
          await handler(b);
        } catch (err) {
          this.opts.logger.error({ err, id: b.id }, 'log batch failed');
          failed.push(b.id);
        }
      }
      return failed;
    });
  }

  /**
   * Calls `handler` with the messages that are here, in stream order (one to groupMessages of them, up
   * to groupBytes), one group at a time, until stop(). It resolves with the ids it could not store: those
   * are handed out again after their nak delay; the others are acknowledged. A throw fails the group.
   */
  startGroups(handler: (batches: LogBatch[]) => Promise<number[]>): void {
    if (this.running) throw new Error('NatsSource already started');
    this.stopping = false;
    this.running = this.loop(handler);
  }

  /** Stops pulling, waits for the group in progress (acked or nak'ed), then returns. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    await this.running;
    this.running = null;
  }

  /**
   * The loop pulls, or fails to pull, every second at least: false when it has not for a while (stalled:
   * a commit that hangs), or when its last groups all failed (the store refuses them).
   */
  get healthy(): boolean {
    return this.running !== null && Date.now() - this.lastProgress < this.stallMs && this.failedGroups < 3;
  }

  private async loop(handler: (batches: LogBatch[]) => Promise<number[]>): Promise<void> {
    let errors = 0;
    const groupMessages = this.opts.groupMessages ?? GROUP_MESSAGES;
    const groupBytes = this.opts.groupBytes ?? GROUP_BYTES;
    const inFlight: Array<Promise<void>> = [];
    while (!this.stopping) {
      let messages: ConsumerMessages;
      try {
        // A 1 s pull: stop() waits at most that long for an idle processor.
        messages = await this.consumer.fetch({ max_messages: groupMessages, expires: 1000 });
      } catch (err) {
        if (await this.pullFailed(err, ++errors)) break;
        continue;
      }
      const it = messages[Symbol.asyncIterator]();
      let next = it.next();
      try {
        for (;;) {
          this.lastProgress = Date.now();
          const first = await next;
          if (first.done) break;
          errors = 0;
          const group = [first.value];
          let bytes = first.value.data.length;
          next = it.next();
          // Takes what has arrived already, without waiting for more.
          while (group.length < groupMessages && bytes < groupBytes) {
            const r = await Promise.race([next, immediate()]);
            if (r === IDLE) break;
            if (r.done) break;
            group.push(r.value);
            bytes += r.value.data.length;
            next = it.next();
          }
          // The next groups are read and prepared while this one commits (up to IN_FLIGHT_GROUPS; the
          // store decides whether their commits run at once: EventStore.concurrentCommits).
          if (inFlight.length >= IN_FLIGHT_GROUPS) await inFlight.shift();
          inFlight.push(this.handle(group, handler));
          if (this.stopping) break;
        }
      } catch (err) {
        if (await this.pullFailed(err, ++errors)) break;
      }
      if (this.stopping) {
        messages.stop();
        // Handed to this processor but not started: back to the others now, not after ack_wait.
        for (let r = await Promise.race([next, immediate()]); r !== IDLE && !r.done; r = await Promise.race([(next = it.next()), immediate()])) r.value.nak();
      }
    }
    await Promise.all(inFlight);
  }

  /** Logs a failed pull and waits before the next; true when the loop should end. */
  private async pullFailed(err: unknown, errors: number): Promise<boolean> {
    if (this.stopping || this.nc.isClosed()) return true;
    this.opts.logger.warn({ err, consumer: this.name }, 'JetStream pull failed; retrying');
    if (isNotFound(err) || /consumer.*(not found|deleted)/i.test((err as Error)?.message ?? '')) await this.rebind();
    await sleep(Math.min(5000, 250 * 2 ** Math.min(errors, 5)));
    return this.stopping;
  }

  private async handle(msgs: JsMsg[], handler: (batches: LogBatch[]) => Promise<number[]>): Promise<void> {
    const ackWait = this.opts.ackWaitMs ?? ACK_WAIT_MS;
    // A long commit keeps its claim on the messages: `+WPI` resets the server's ack_wait clock.
    const keepAlive = setInterval(() => {
      for (const m of msgs) m.working();
    }, Math.max(1000, Math.floor(ackWait / 3)));
    let failed: Set<number>;
    let failure: unknown = null;
    try {
      failed = new Set(await handler(msgs.map((m) => ({ id: m.seq, text: m.string() }))));
    } catch (err) {
      failed = new Set(msgs.map((m) => m.seq));
      failure = err;
    } finally {
      clearInterval(keepAlive);
    }
    this.failedGroups = failed.size === msgs.length ? this.failedGroups + 1 : 0;
    this.lastProgress = Date.now();
    let acked = 0;
    for (const msg of msgs) {
      if (failed.has(msg.seq)) {
        const base = this.opts.nakDelayMs ?? 1000;
        const delay = Math.min(this.opts.maxNakDelayMs ?? 30_000, base * 2 ** Math.min(msg.info.deliveryCount - 1, 10));
        this.opts.logger.error({ err: failure ?? undefined, id: msg.seq, deliveries: msg.info.deliveryCount, retryInMs: delay }, 'log batch failed; JetStream redelivers it');
        msg.nak(delay);
        continue;
      }
      msg.ack();
      acked++;
    }
    // One round trip for the group's acks, not a request per message (ackAck: each builds an Error for
    // its stack and waits for its own answer; they showed in a processor's profile): once the flush
    // returns, the server has them. An ack lost on the way brings its message back after ack_wait, and
    // the store (keyed by id) skips it.
    if (acked > 0) {
      await this.nc.flush().catch((err: unknown) =>
        this.opts.logger.warn({ err, first: msgs[0].seq, messages: acked }, 'JetStream acks not confirmed; those batches may be delivered again (the store skips them)'),
      );
    }
  }

  private async rebind(): Promise<void> {
    try {
      await ensureConsumer(this.jsm, this.opts);
      this.consumer = await jetstream(this.nc).consumers.get(this.opts.stream, this.name);
    } catch (err) {
      this.opts.logger.warn({ err, consumer: this.name }, 'JetStream consumer not available yet');
    }
  }
}

async function ensureConsumer(jsm: JetStreamManager, opts: NatsSourceOptions): Promise<void> {
  const name = consumerName(opts.stream);
  const wanted: Partial<ConsumerConfig> = {
    durable_name: name,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: (opts.ackWaitMs ?? ACK_WAIT_MS) * 1_000_000,
    max_ack_pending: opts.maxAckPending ?? 1000,
    // Never give up on a message: a batch that keeps failing is retried (with the nak delay) until the
    // store takes it; the per-event failures already go to dead letters inside the commit.
    max_deliver: -1,
  };
  try {
    const info = await jsm.consumers.info(opts.stream, name);
    const c = info.config;
    if (c.ack_wait !== wanted.ack_wait || c.max_ack_pending !== wanted.max_ack_pending || c.max_deliver !== -1) {
      await jsm.consumers.update(opts.stream, name, { ack_wait: wanted.ack_wait, max_ack_pending: wanted.max_ack_pending, max_deliver: -1 });
    }
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await jsm.consumers.add(opts.stream, wanted);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
