// The stats port: counts of stored events per time bucket and per event name, for the stats routes.
// Time zones are resolved by the caller (query/time-zone.ts) into offset spans; the store only does
// integer arithmetic on them, so it needs no time-zone database of its own.

export type StatsInterval = 'hour' | 'day';

/** From `start` (epoch ms) until the next span's start, local time = UTC + offsetMs. */
export interface OffsetSpan {
  start: number;
  offsetMs: number;
}

export interface CountQuery {
  /** Inclusive, epoch ms, on the corrected timestamp. */
  from: number;
  /** Exclusive, epoch ms. */
  to: number;
  event?: string;
  type?: string;
  interval: StatsInterval;
  /** The zone's offsets over [from, to), in time order; the first span's offset also holds before its start. */
  spans: OffsetSpan[];
}

/**
 * One bucket's figures. `key` for `day`: the local calendar day, floor((ts + offset) / 86400000);
 * for `hour`: the instant (epoch ms) the local hour starts, ts - ((ts + offset) mod 3600000), but not
 * before the start of the span holding ts (except the first span), so a repeated hour is its own key.
 */
export interface BucketCount {
  key: number;
  count: number;
  /** Distinct coalesce(userId, anonymousId) of the bucket's events. */
  users: number;
}

export interface CountResult {
  /** Buckets with at least one event, in no particular order. */
  buckets: BucketCount[];
  total: { count: number; users: number };
}

export interface TopEventsQuery {
  from: number;
  to: number;
  limit: number;
}

export interface EventTotal {
  event: string;
  count: number;
  users: number;
}

export interface PageTotal {
  path: string;
  /** Page views: `page` events with this context.page.path. */
  count: number;
  users: number;
}

/** A funnel step: events of this name (`track` events' `event`), optionally with one property equal to a value. */
export interface FunnelStep {
  event: string;
  /** `properties[property]` (a top-level key) equal to `equals`: the same JSON type and value. */
  where?: { property: string; equals: string | number | boolean };
}

export interface FunnelQuery {
  /** Step 1's range: inclusive, epoch ms, on the corrected timestamp. */
  from: number;
  /** Exclusive. */
  to: number;
  /** Every later step within this long of step 1 (it may fall after `to`). */
  windowMs: number;
  /** 2 to 5 steps, in order. */
  steps: FunnelStep[];
}

export interface StatsStore {
  countEvents(project: string, q: CountQuery): Promise<CountResult>;
  /** Named events (event IS NOT NULL), most frequent first, ties by name. */
  topEvents(project: string, q: TopEventsQuery): Promise<EventTotal[]>;
  /**
   * Page views by `context.page.path`: `page` events whose context.page.path is a string (others are
   * left out), most viewed first, ties by path (byte order).
   */
  topPages(project: string, q: TopEventsQuery): Promise<PageTotal[]>;
  /**
   * For each step, the users (userId, else anonymousId, as sent) who reached it: a step-1 event in
   * [from, to), then each next step's event strictly later than the previous step's and at most
   * windowMs after that step-1 event. A user counts once, by the attempt that got furthest.
   */
  funnel(project: string, q: FunnelQuery): Promise<number[]>;
}
