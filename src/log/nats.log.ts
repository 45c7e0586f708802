// The JetStream log (SOLUTE_LOG=nats://...): where an accepted event becomes durable when Solute runs
// as several processes. One request's NDJSON lines are published as one message (split at line
// boundaries when they exceed the server's max_payload), and append resolves only after JetStream's
// PubAck for every part: with R3 that ack means a quorum of servers stored the message; with R1, one
// server did (see docs/deployment.md for what each promises under crashes and power loss).
import { randomBytes } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { AppendBatch, EventLog } from '../contracts/event-log.js';
import { countedSubject } from './nats.connection.js';

export class NatsLogError extends Error {
  /** The stream refused the message at its bound (contracts/event-log.ts isLogFull). */
  readonly logFull: boolean;
  constructor(message: string, cause?: unknown) {
    super(`JetStream log: ${message}${cause ? `: ${(cause as Error)?.message ?? cause}` : ''}`, { cause });
    this.name = 'NatsLogError';
    this.logFull = isStreamFull(cause);
  }
}

/** JetStream's answers to a publish past max_msgs or max_bytes with discard `new`. */
function isStreamFull(err: unknown): boolean {
  return /maximum (messages|bytes) exceeded|resource limits exceeded/i.test((err as Error)?.message ?? '');
}

export interface NatsLogOptions {
  /** SOLUTE_NATS_STREAM. */
  stream: string;
  /**
   * An append that has no PubAck for every part after this long rejects (503 at the edge). Inside it,
   * a part whose publish timed out or found no responder (a leader election, a reconnect) is sent
   * again with the same Nats-Msg-Id, which JetStream stores once inside its duplicate window.
   */
  appendTimeoutMs?: number;
  /** Wait for one PubAck before sending that part again (inside appendTimeoutMs). */
  publishTimeoutMs?: number;
  /** Bytes kept free under the server's max_payload for the subject and headers. */
  headroomBytes?: number;
}

interface InFlight {
  count: number;
  settled: Promise<void>;
}

export class NatsLog implements EventLog {
  failures = 0;
  private seq = 1;
  private closed = false;
  private connected = true;
  /**
   * False after a failed append, or when the stream did not answer the probe (every second, also while
   * no request comes: readiness must not wait for a client to find JetStream gone), until it answers.
   */
  private lastOk = true;
  private probing = false;
  private inFlightEvents = 0;
  /** Settles once every append started so far has settled: appends resolve in the order they started. */
  private tail: Promise<void> = Promise.resolve();
  private readonly inFlight = new Set<InFlight>();
  private readonly idPrefix = randomBytes(9).toString('base64url');
  private msgCounter = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly appendTimeoutMs: number;
  private readonly publishTimeoutMs: number;
  private readonly headroom: number;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly opts: NatsLogOptions,
  ) {
    this.appendTimeoutMs = opts.appendTimeoutMs ?? 10_000;
    this.publishTimeoutMs = Math.min(opts.publishTimeoutMs ?? 2_000, this.appendTimeoutMs);
    this.headroom = opts.headroomBytes ?? 4096;
    this.timer = setInterval(() => this.probe(), 1000);
    this.timer.unref();
    void this.watchStatus();
  }

  /** The stream must exist (ensureStream). The connection stays the caller's: close() does not close it. */
  static async open(nc: NatsConnection, opts: NatsLogOptions): Promise<NatsLog> {
    const jsm = await jetstreamManager(nc);
    return new NatsLog(nc, jetstream(nc), jsm, opts);
  }

  /** A per-process counter: in a cluster, seq orders lines within a process only (the store has its own ids). */
  reserveSeq(n: number): number {
    const first = this.seq;
    this.seq += n;
    return first;
  }

  /**
   * Resolves once JetStream acknowledged every part of the batch, and not before every append started
   * earlier has settled (so `failures`, read after it, covers them: a duplicate of an event still in
   * flight is never reported durable when that event's append failed). Rejects with NatsLogError.
   */
  append(batch: AppendBatch): Promise<void> {
    if (this.closed) return Promise.reject(new NatsLogError('log is closed'));
    const own = batch.count === 0 ? Promise.resolve() : this.publishBatch(batch.text, batch.count);
    const before = this.tail;
    const result = own.then(
      async () => {
        await before;
      },
      async (err: unknown) => {
        this.failures++;
        this.lastOk = false;
        await before;
        throw err instanceof NatsLogError ? err : new NatsLogError('publish failed', err);
      },
    );
    const entry: InFlight = { count: batch.count, settled: result.then(noop, noop) };
    this.tail = entry.settled;
    this.inFlight.add(entry);
    this.inFlightEvents += batch.count;
    void entry.settled.then(() => {
      this.inFlight.delete(entry);
      this.inFlightEvents -= batch.count;
    });
    return result;
  }

  /** Events in appends not yet acknowledged (after that, they are the stream's backlog). */
  get openCount(): number {
    return this.inFlightEvents;
  }

  get writable(): boolean {
    return !this.closed && this.connected && this.lastOk && !this.nc.isClosed();
  }

  /** Refuses new appends and waits for those in flight. Leaves the connection open (it is the caller's). */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.tail;
  }

  private async publishBatch(text: string, count: number): Promise<void> {
    const buf = Buffer.from(text, 'utf8');
    const max = this.nc.info?.max_payload ?? 1024 * 1024;
    const parts = splitLines(buf, max - this.headroom);
    await Promise.all(parts.map((p) => this.publishPart(p, parts.length === 1 ? count : linesIn(p))));
  }

  /** Publishes one part of `events` lines on the subject that counts them. */
  private async publishPart(data: Uint8Array, events: number): Promise<void> {
    const subject = countedSubject(this.opts.stream, events);
    const msgID = `${this.idPrefix}.${++this.msgCounter}`;
    const deadline = Date.now() + this.appendTimeoutMs;
    for (;;) {
      const timeout = Math.min(this.publishTimeoutMs, deadline - Date.now());
      try {
        await this.js.publish(subject, data, { msgID, timeout, expect: { streamName: this.opts.stream } });
        return;
      } catch (err) {
        // Only a lost answer is worth asking again (the same msgID makes it safe); an error the
        // stream gave (wrong stream, limits) or a closed connection is final.
        const retry = !this.closed && !this.nc.isClosed() && isTransient(err) && deadline - Date.now() > 50;
        if (!retry) throw new NatsLogError(Date.now() >= deadline ? `no PubAck within ${this.appendTimeoutMs} ms` : 'publish failed', err);
        await sleep(Math.min(100, Math.max(0, deadline - Date.now())));
      }
    }
  }

  private async probe(): Promise<void> {
    if (this.probing || this.closed || !this.connected) return;
    this.probing = true;
    const failuresBefore = this.failures;
    try {
      await this.jsm.streams.info(this.opts.stream);
      // An append that failed while the probe ran keeps the log unready until the next probe.
      if (this.failures === failuresBefore) this.lastOk = true;
    } catch {
      this.lastOk = false;
    } finally {
      this.probing = false;
    }
  }

  private async watchStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (s.type === 'disconnect') this.connected = false;
      else if (s.type === 'reconnect') this.connected = true;
    }
  }
}

function linesIn(part: Uint8Array): number {
  let n = 0;
  for (let i = part.indexOf(0x0a); i >= 0; i = part.indexOf(0x0a, i + 1)) n++;
  return n;
}

/** Splits NDJSON at line boundaries into parts of at most `max` bytes. */
export function splitLines(buf: Buffer, max: number): Uint8Array[] {
  if (buf.length <= max) return [buf];
  const parts: Uint8Array[] = [];
  let start = 0;
  while (start < buf.length) {
    if (buf.length - start <= max) {
      parts.push(buf.subarray(start));
      break;
    }
    const cut = buf.lastIndexOf(0x0a, start + max - 1);
    if (cut < start) {
      const end = buf.indexOf(0x0a, start);
      const size = (end < 0 ? buf.length : end + 1) - start;
      throw new NatsLogError(
        `one event line is ${size} bytes, over the ${max} bytes a message may carry (the servers' max_payload less headroom for headers): raise max_payload on the NATS servers or lower SOLUTE_MAX_EVENT_BYTES`,
      );
    }
    parts.push(buf.subarray(start, cut + 1));
    start = cut + 1;
  }
  return parts;
}

function isTransient(err: unknown): boolean {
  const e = err as { name?: string; message?: string; code?: unknown };
  const text = `${e?.name ?? ''} ${e?.message ?? ''}`;
  return /timeout|timed out|no responders|NoResponders|not enabled|disconnect|reconnect|connection/i.test(text);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function noop(): void {}
