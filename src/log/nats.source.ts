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
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { consumerName, isNotFound } from './nats.connection.js';

/**
 * How long a message handed to a processor stays its own without news: the processor renews it every
 * third of this while its commit runs, so only a dead (or frozen) processor lets it lapse, and then
 * another processor gets the message this long after. Short, so a killed processor delays little;
 * a lapse during a slow commit only costs a redelivery the store skips.
 */
const ACK_WAIT_MS = 15_000;

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
  private readonly timer: NodeJS.Timeout;
  private readonly name: string;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private consumer: Consumer,
    private readonly opts: NatsSourceOptions,
  ) {
    this.name = consumerName(opts.stream);
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

  /** Messages not yet acknowledged: waiting, plus handed out. Cached, refreshed every second. */
  backlog(): number {
    return this.cachedBacklog;
  }

  /** Asks the server now (and updates the cached value). */
  async refreshBacklog(): Promise<number> {
    const info = await this.consumer.info(false);
    this.cachedBacklog = info.num_pending + info.num_ack_pending;
    return this.cachedBacklog;
  }

  /** Calls `handler` per message, one at a time, until stop(). */
  start(handler: (batch: LogBatch) => Promise<void>): void {
    if (this.running) throw new Error('NatsSource already started');
    this.stopping = false;
    this.running = this.loop(handler);
  }

  /** Stops pulling, waits for the message in progress (acked or nak'ed), then returns. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    await this.running;
    this.running = null;
  }

  private async loop(handler: (batch: LogBatch) => Promise<void>): Promise<void> {
    let errors = 0;
    while (!this.stopping) {
      let msg: JsMsg | null;
      try {
        // A 1 s pull: stop() waits at most that long for an idle processor.
        msg = await this.consumer.next({ expires: 1000 });
        errors = 0;
      } catch (err) {
        if (this.stopping || this.nc.isClosed()) break;
        errors++;
        this.opts.logger.warn({ err, consumer: this.name }, 'JetStream pull failed; retrying');
        if (isNotFound(err) || /consumer.*(not found|deleted)/i.test((err as Error)?.message ?? '')) await this.rebind();
        await sleep(Math.min(5000, 250 * 2 ** Math.min(errors, 5)));
        continue;
      }
      if (msg) await this.handle(msg, handler);
    }
  }

  private async handle(msg: JsMsg, handler: (batch: LogBatch) => Promise<void>): Promise<void> {
    const ackWait = this.opts.ackWaitMs ?? ACK_WAIT_MS;
    // A long commit keeps its claim on the message: `+WPI` resets the server's ack_wait clock.
    const keepAlive = setInterval(() => msg.working(), Math.max(1000, Math.floor(ackWait / 3)));
    try {
      await handler({ id: msg.seq, text: msg.string() });
    } catch (err) {
      clearInterval(keepAlive);
      const base = this.opts.nakDelayMs ?? 1000;
      const delay = Math.min(this.opts.maxNakDelayMs ?? 30_000, base * 2 ** Math.min(msg.info.deliveryCount - 1, 10));
      this.opts.logger.error({ err, id: msg.seq, deliveries: msg.info.deliveryCount, retryInMs: delay }, 'log batch failed; JetStream redelivers it');
      msg.nak(delay);
      return;
    }
    clearInterval(keepAlive);
    try {
      // Confirmed ack: when the server did not get it, the message comes back after ack_wait, and the
      // store (keyed by id) skips it.
      if (!(await msg.ackAck({ timeout: 5000 }))) throw new Error('ack not confirmed');
    } catch (err) {
      this.opts.logger.warn({ err, id: msg.seq }, 'JetStream ack not confirmed; the batch may be delivered again (the store skips it)');
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
