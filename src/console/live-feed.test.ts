// The live view's fan-out on its own: what it costs with nobody watching, that events reach a
// subscriber in one message per flush, that filters, resume after a reconnect, and every bound
// (slow subscriber, per-flush cap, pending cap, subscriber cap) hold, and that drops are counted.
import { afterEach, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { GRACE_MS, LiveFeed, MAX_EVENTS_PER_FLUSH, MAX_PENDING_EVENTS, MAX_SUBSCRIBER_BUFFER, type LiveSink } from './live-feed.js';

const session = Buffer.alloc(32, 1);

class Sink implements LiveSink {
  text = '';
  backlog = 0;
  ended = false;
  write(t: string) {
    this.text += t;
  }
  buffered() {
    return this.backlog;
  }
  end() {
    this.ended = true;
  }
  /** The `events` messages: each one's id and its events. */
  messages(): Array<{ id: string; rows: Array<{ id: number; duplicate: boolean; event: Record<string, unknown> }> }> {
    return [...this.text.matchAll(/id: (\S+)\nevent: events\ndata: (.*)\n\n/g)].map((m) => ({ id: m[1], rows: JSON.parse(m[2]) }));
  }
  named(event: string): unknown[] {
    return [...this.text.matchAll(new RegExp(`event: ${event}\\ndata: (.*)\\n\\n`, 'g'))].map((m) => JSON.parse(m[1]));
  }
}

const ev = (n: number, extra: Record<string, unknown> = {}) => ({ event: { type: 'track', event: `E${n}`, userId: `u${n % 3}`, messageId: `m${n}`, ...extra }, duplicate: false });
const flush = () => new Promise((r) => setTimeout(r, 30));

let feeds: LiveFeed[] = [];
afterEach(() => {
  for (const f of feeds) f.close();
  feeds = [];
});
function feed(opts: Partial<ConstructorParameters<typeof LiveFeed>[0]> = {}) {
  const f = new LiveFeed({ maxSubscribers: 10, flushMs: 5, ...opts });
  feeds.push(f);
  return f;
}

describe('LiveFeed', () => {
  it('watches nothing until someone subscribes, and keeps nothing then', async () => {
    const f = feed();
    expect(f.watching('p')).toBe(false);
    f.acknowledged('p', [ev(1)]); // the ack path only calls this when watching; harmless otherwise
    await flush();
    const s = new Sink();
    f.subscribe('p', {}, session, s);
    await flush();
    expect(s.messages()).toEqual([]);
    expect(f.watching('p')).toBe(true);
    expect(f.watching('other')).toBe(false);
  });

  it('sends each flush as one message, in order, with the duplicate flag, only to subscribers of the project', async () => {
    const f = feed();
    const a = new Sink();
    const b = new Sink();
    f.subscribe('p', {}, session, a);
    f.subscribe('q', {}, session, b);
    f.acknowledged('p', [ev(1), ev(2)]);
    f.acknowledged('p', [{ ...ev(1), duplicate: true }]);
    await flush();
    const msgs = a.messages();
    expect(msgs).toHaveLength(1);
    expect(msgs[0].rows.map((r) => [r.event.messageId, r.duplicate])).toEqual([['m1', false], ['m2', false], ['m1', true]]);
    expect(msgs[0].id).toBe(`${f.epoch}-3`);
    expect(b.messages()).toEqual([]);
  });

  it('filters by type, event name and user (userId or anonymousId)', async () => {
    const f = feed();
    const byUser = new Sink();
    const byName = new Sink();
    const byType = new Sink();
    f.subscribe('p', { user: 'anon-7' }, session, byUser);
    f.subscribe('p', { event: 'E2' }, session, byName);
    f.subscribe('p', { type: 'identify' }, session, byType);
    f.acknowledged('p', [ev(1), ev(2), ev(3, { userId: undefined, anonymousId: 'anon-7' }), ev(4, { type: 'identify', event: undefined })]);
    await flush();
    expect(byUser.messages()[0].rows.map((r) => r.event.messageId)).toEqual(['m3']);
    expect(byName.messages()[0].rows.map((r) => r.event.messageId)).toEqual(['m2']);
    expect(byType.messages()[0].rows.map((r) => r.event.messageId)).toEqual(['m4']);
  });

  it('resumes after a reconnect from Last-Event-ID, and says when it cannot', async () => {
    const f = feed();
    const first = new Sink();
    const sub = f.subscribe('p', {}, session, first)!;
    f.acknowledged('p', [ev(1)]);
    await flush();
    const last = first.messages()[0].id;
    f.unsubscribe(sub);
    expect(f.watching('p')).toBe(true); // the grace period: a reconnect is expected
    f.acknowledged('p', [ev(2), ev(3)]);
    await flush();
    const again = new Sink();
    f.subscribe('p', {}, session, again, last);
    expect(again.messages().flatMap((m) => m.rows.map((r) => r.event.messageId))).toEqual(['m2', 'm3']);
    expect(again.named('gap')).toEqual([]);
    // An id from before a restart (another epoch) cannot be resumed: the subscriber is told.
    const stale = new Sink();
    f.subscribe('p', {}, session, stale, '00000000-5');
    expect(stale.named('gap')).toEqual([expect.objectContaining({ reason: 'restart' })]);
    expect(stale.messages()).toEqual([]);
  });

  it('stops watching a project GRACE_MS after its last subscriber left', () => {
    const f = feed();
    const sub = f.subscribe('p', {}, session, new Sink())!;
    f.unsubscribe(sub);
    const now = Date.now;
    try {
      Date.now = () => now() + GRACE_MS + 1;
      expect(f.watching('p')).toBe(false);
    } finally {
      Date.now = now;
    }
  });

  it('drops (and counts) what a slow subscriber cannot take, tells it once it drains, and never holds the others back', async () => {
    const registry = new Registry();
    const f = feed({ registry });
    const slow = new Sink();
    const fast = new Sink();
    f.subscribe('p', {}, session, slow);
    f.subscribe('p', {}, session, fast);
    slow.backlog = MAX_SUBSCRIBER_BUFFER + 1;
    f.acknowledged('p', [ev(1), ev(2)]);
    await flush();
    expect(slow.messages()).toEqual([]);
    expect(fast.messages()[0].rows).toHaveLength(2);
    slow.backlog = 0;
    f.acknowledged('p', [ev(3)]);
    await flush();
    expect(slow.named('dropped')).toEqual([{ count: 2 }]);
    expect(slow.messages()[0].rows.map((r) => r.event.messageId)).toEqual(['m3']);
    expect(await registry.getSingleMetricAsString('solute_live_events_dropped_total')).toMatch(/reason="slow_subscriber"} 2$/m);
  });

  it('sends at most MAX_EVENTS_PER_FLUSH per subscriber per flush (the newest), and at most MAX_PENDING_EVENTS wait', async () => {
    const registry = new Registry();
    const f = feed({ registry });
    const s = new Sink();
    f.subscribe('p', {}, session, s);
    const many = Array.from({ length: MAX_EVENTS_PER_FLUSH + 10 }, (_, i) => ev(i));
    f.acknowledged('p', many);
    await flush();
    const rows = s.messages()[0].rows;
    expect(rows).toHaveLength(MAX_EVENTS_PER_FLUSH);
    expect(rows.at(-1)!.event.messageId).toBe(`m${MAX_EVENTS_PER_FLUSH + 9}`);
    expect(s.named('dropped')).toEqual([{ count: 10 }]);

    // Past the pending bound, whole requests are dropped and counted before anything is queued.
    const batch = Array.from({ length: 100 }, (_, i) => ev(i));
    for (let i = 0; i < MAX_PENDING_EVENTS / 100 + 3; i++) f.acknowledged('p', batch);
    expect(await registry.getSingleMetricAsString('solute_live_events_dropped_total')).toMatch(/reason="pending"} 300$/m);
  });

  it('refuses subscribers past the limit, ends streams whose session is no longer valid, and ends all on close', async () => {
    let valid = true;
    const f = feed({ maxSubscribers: 2, revalidateMs: 10, revalidate: async (h) => new Set(valid ? h.map((x) => x.toString('hex')) : []) });
    const a = new Sink();
    const b = new Sink();
    expect(f.subscribe('p', {}, session, a)).not.toBeNull();
    expect(f.subscribe('p', {}, session, b)).not.toBeNull();
    expect(f.subscribe('p', {}, session, new Sink())).toBeNull();
    valid = false;
    const deadline = Date.now() + 2000;
    while (!a.ended && Date.now() < deadline) await flush();
    expect(a.ended && b.ended).toBe(true);
    expect(a.named('signedout')).toHaveLength(1);
    expect(f.subscribers).toBe(0);
    const c = new Sink();
    f.subscribe('p', {}, session, c);
    f.close();
    expect(c.ended).toBe(true);
  });
});
