// The live view's fan-out: the ack path hands each acknowledged request's events to `acknowledged`
// (an array push; nothing is serialized or written there), and a timer every FLUSH_MS serializes
// them once and writes one Server-Sent Events message per subscriber. Everything is bounded: events
// waiting for the next flush, events sent to one subscriber per flush, bytes queued in a subscriber's
// socket (past it that subscriber's events are dropped and counted: a slow browser never holds memory
// or the ack path), subscribers in all, and the per-project ring kept for resuming after a reconnect.
// With nobody watching a project, the ack path only asks `watching(project)`: one map lookup.
import crypto from 'node:crypto';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { AckTap, AckedEvent } from '../contracts/console.js';

export interface LiveFilter {
  type?: string;
  event?: string;
  /** userId or anonymousId. */
  user?: string;
}

/** Where a subscriber's messages go (the SSE response, or a test's buffer). */
export interface LiveSink {
  write(text: string): void;
  /** Bytes written but not yet sent to the client. */
  buffered(): number;
  end(): void;
}

export interface LiveOptions {
  maxSubscribers: number;
  /** How often pending events are sent (ms): events reach a browser within about this. */
  flushMs?: number;
  /** A comment line this often keeps proxies and the idle timeout from closing the stream (ms). */
  heartbeatMs?: number;
  /** How often the subscribers' sessions are checked again (ms): a revoked key ends its streams within this. */
  revalidateMs?: number;
  /** Answers which of these sessions (SHA-256 of their tokens) are still valid, as hex. */
  revalidate?: (sessions: Buffer[]) => Promise<Set<string>>;
  registry?: Registry;
}

interface Item {
  id: number;
  json: string;
  type: unknown;
  name: unknown;
  userId: unknown;
  anonymousId: unknown;
  bytes: number;
}

interface ProjectFeed {
  subscribers: Set<Subscriber>;
  /** The latest events, for a reconnecting subscriber (Last-Event-ID). */
  ring: Item[];
  ringBytes: number;
  /** With no subscriber left, events are still kept until then (epoch ms), for a reconnect. */
  until: number;
}

export interface Subscriber {
  readonly project: string;
  readonly filter: LiveFilter;
  readonly session: Buffer;
  readonly sink: LiveSink;
  /** Events dropped since the last message this subscriber got. */
  dropped: number;
}

/** Events waiting for the next flush, in all; past it the ack path's events are dropped (counted). */
export const MAX_PENDING_EVENTS = 5000;
/** Events one subscriber gets per flush at most (the console keeps 500 rows); the rest are dropped (counted). */
export const MAX_EVENTS_PER_FLUSH = 500;
/** Bytes queued in a subscriber's socket past which it counts as slow and gets nothing more until it drains. */
export const MAX_SUBSCRIBER_BUFFER = 1024 * 1024;
/** Kept per watched project for resuming: events, and bytes. */
export const RING_EVENTS = 1000;
export const RING_BYTES = 4 * 1024 * 1024;
/** How long a project stays watched after its last subscriber left, so that a reconnect can resume. */
export const GRACE_MS = 30_000;

export class LiveFeed implements AckTap {
  /** Changes at each start: a Last-Event-ID from before a restart is recognised as such. */
  readonly epoch = crypto.randomBytes(4).toString('hex');
  private nextId = 1;
  private readonly projects = new Map<string, ProjectFeed>();
  private pending: Array<{ project: string; events: AckedEvent[] }> = [];
  private pendingCount = 0;
  private subscriberCount = 0;
  private flushTimer: NodeJS.Timeout | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private revalidator: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly flushMs: number;
  private readonly dropped: Counter<'reason'> | null;

  constructor(private readonly opts: LiveOptions) {
    this.flushMs = opts.flushMs ?? 250;
    this.dropped = opts.registry
      ? new Counter({
          name: 'solute_live_events_dropped_total',
          help: 'Acknowledged events the live view did not send: too many waiting (pending), or a subscriber too slow to take them (slow_subscriber)',
          labelNames: ['reason'] as const,
          registers: [opts.registry],
        })
      : null;
    if (opts.registry) {
      const self = this;
      new Gauge({
        name: 'solute_live_subscribers',
        help: 'Console live-view streams open on this process',
        registers: [opts.registry],
        collect() {
          this.set(self.subscriberCount);
        },
      });
    }
  }

  get subscribers(): number {
    return this.subscriberCount;
  }

  watching(project: string): boolean {
    const p = this.projects.get(project);
    if (p === undefined) return false;
    if (p.subscribers.size > 0 || Date.now() < p.until) return true;
    this.projects.delete(project);
    return false;
  }

  acknowledged(project: string, events: AckedEvent[]): void {
    if (events.length === 0 || this.closed) return;
    if (this.pendingCount + events.length > MAX_PENDING_EVENTS) {
      this.dropped?.inc({ reason: 'pending' }, events.length);
      for (const s of this.projects.get(project)?.subscribers ?? []) s.dropped += events.length;
      return;
    }
    this.pending.push({ project, events });
    this.pendingCount += events.length;
    this.flushTimer ??= setTimeout(() => this.flush(), this.flushMs);
  }

  /** Adds a subscriber, or returns null when the limit is reached. Replays what it missed when `lastEventId` is one of ours. */
  subscribe(project: string, filter: LiveFilter, session: Buffer, sink: LiveSink, lastEventId?: string): Subscriber | null {
    if (this.closed || this.subscriberCount >= this.opts.maxSubscribers) return null;
    let p = this.projects.get(project);
    if (p === undefined) {
      p = { subscribers: new Set(), ring: [], ringBytes: 0, until: 0 };
      this.projects.set(project, p);
    }
    const sub: Subscriber = { project, filter, session, sink, dropped: 0 };
    p.subscribers.add(sub);
    this.subscriberCount++;
    this.startTimers();
    sink.write(`retry: 2000\n: ${this.epoch}\n\n`);
    if (lastEventId !== undefined && lastEventId !== '') this.resume(p, sub, lastEventId);
    return sub;
  }

  unsubscribe(sub: Subscriber): void {
    const p = this.projects.get(sub.project);
    if (p === undefined || !p.subscribers.delete(sub)) return;
    this.subscriberCount--;
    if (p.subscribers.size === 0) p.until = Date.now() + GRACE_MS;
    if (this.subscriberCount === 0) this.stopTimers();
  }

  /** Ends every stream (server shutdown). */
  close(): void {
    this.closed = true;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    for (const p of this.projects.values()) {
      for (const s of p.subscribers) s.sink.end();
      p.subscribers.clear();
    }
    this.projects.clear();
    this.subscriberCount = 0;
    this.stopTimers();
  }

  private resume(p: ProjectFeed, sub: Subscriber, lastEventId: string): void {
    const m = /^([0-9a-f]{8})-(\d{1,15})$/.exec(lastEventId);
    if (m === null || m[1] !== this.epoch) {
      this.send(sub, 'gap', JSON.stringify({ reason: 'restart', message: 'the server restarted; events acknowledged meanwhile are not shown' }));
      return;
    }
    const last = Number(m[2]);
    const first = p.ring[0]?.id;
    if (first !== undefined && last < first - 1) {
      this.send(sub, 'gap', JSON.stringify({ reason: 'too_far_behind', message: 'some events acknowledged while disconnected are not shown' }));
    }
    const missed = p.ring.filter((it) => it.id > last && matches(sub.filter, it));
    if (missed.length > 0) this.write(sub, missed, missed.at(-1)!.id);
  }

  private flush(): void {
    this.flushTimer = null;
    const batches = this.pending;
    this.pending = [];
    this.pendingCount = 0;
    const byProject = new Map<string, Item[]>();
    for (const { project, events } of batches) {
      const p = this.projects.get(project);
      if (p === undefined) continue;
      let items = byProject.get(project);
      if (items === undefined) byProject.set(project, (items = []));
      for (const { event, duplicate } of events) {
        const id = this.nextId++;
        const json = JSON.stringify({ id, duplicate, event });
        const item: Item = { id, json, type: event.type, name: event.event, userId: event.userId, anonymousId: event.anonymousId, bytes: json.length };
        items.push(item);
        p.ring.push(item);
        p.ringBytes += item.bytes;
      }
      let cut = 0;
      while (p.ring.length - cut > RING_EVENTS || (p.ringBytes > RING_BYTES && cut < p.ring.length - 1)) p.ringBytes -= p.ring[cut++].bytes;
      if (cut > 0) p.ring.splice(0, cut);
    }
    for (const [project, items] of byProject) {
      const lastId = items.at(-1)!.id;
      for (const sub of this.projects.get(project)!.subscribers) {
        const mine = items.filter((it) => matches(sub.filter, it));
        if (mine.length > 0) this.write(sub, mine, lastId);
      }
    }
  }

  /** One message with `items` (the newest MAX_EVENTS_PER_FLUSH of them), or, for a slow subscriber, a count of drops. */
  private write(sub: Subscriber, items: Item[], lastId: number): void {
    if (sub.sink.buffered() > MAX_SUBSCRIBER_BUFFER) {
      sub.dropped += items.length;
      this.dropped?.inc({ reason: 'slow_subscriber' }, items.length);
      return;
    }
    if (items.length > MAX_EVENTS_PER_FLUSH) {
      const over = items.length - MAX_EVENTS_PER_FLUSH;
      sub.dropped += over;
      this.dropped?.inc({ reason: 'slow_subscriber' }, over);
      items = items.slice(over);
    }
    if (sub.dropped > 0) {
      this.send(sub, 'dropped', JSON.stringify({ count: sub.dropped }));
      sub.dropped = 0;
    }
    let data = '[';
    for (let i = 0; i < items.length; i++) data += (i === 0 ? '' : ',') + items[i].json;
    sub.sink.write(`id: ${this.epoch}-${lastId}\nevent: events\ndata: ${data}]\n\n`);
  }

  private send(sub: Subscriber, event: string, data: string): void {
    sub.sink.write(`event: ${event}\ndata: ${data}\n\n`);
  }

  private startTimers(): void {
    this.heartbeat ??= setInterval(() => {
      for (const p of this.projects.values()) for (const s of p.subscribers) if (s.sink.buffered() <= MAX_SUBSCRIBER_BUFFER) s.sink.write(': hb\n\n');
    }, this.opts.heartbeatMs ?? 15_000).unref();
    if (this.opts.revalidate && this.revalidator === null) {
      let running = false;
      this.revalidator = setInterval(() => {
        if (running) return;
        running = true;
        void this.revalidateAll().finally(() => (running = false));
      }, this.opts.revalidateMs ?? 1000).unref();
    }
  }

  private stopTimers(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.revalidator) clearInterval(this.revalidator);
    this.heartbeat = this.revalidator = null;
  }

  /** Ends the streams whose session was signed out, expired, or whose key was revoked. */
  private async revalidateAll(): Promise<void> {
    const subs = [...this.projects.values()].flatMap((p) => [...p.subscribers]);
    if (subs.length === 0) return;
    let valid: Set<string>;
    try {
      valid = await this.opts.revalidate!(subs.map((s) => s.session));
    } catch {
      return; // the store is unreachable for a moment: checked again at the next tick
    }
    for (const s of subs) {
      if (valid.has(s.session.toString('hex'))) continue;
      this.send(s, 'signedout', '{}');
      this.unsubscribe(s);
      s.sink.end();
    }
  }
}

function matches(f: LiveFilter, it: Item): boolean {
  if (f.type !== undefined && it.type !== f.type) return false;
  if (f.event !== undefined && it.name !== f.event) return false;
  if (f.user !== undefined && it.userId !== f.user && it.anonymousId !== f.user) return false;
  return true;
}
