// The stats port: counts of stored events per time bucket and per event name, for the stats routes.
// Time zones are resolved by the caller (query/time-zone.ts) into offset spans; the store only does
// integer arithmetic on them, so it needs no time-zone database of its own.

export type StatsInterval = 'hour' | 'day';

/** From `start` (epoch ms) until the next span's start, local time = UTC + offsetMs. */
export interface OffsetSpan {
  start: number;
  offsetMs: number;
}

/** `properties[property]` (a top-level key) equal to `equals`: the same JSON type and value. */
export interface PropertyFilter {
  property: string;
  equals: string | number | boolean;
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
  /** Only events whose properties match all of these. */
  where?: PropertyFilter[];
  /**
   * Also split the counts by `properties[property]`: the `limit` most frequent values (strings,
   * numbers, booleans; ties by the value's text), then one series for all other events (other
   * values, no value, null, objects and arrays).
   */
  breakdown?: { property: string; limit: number };
}

export interface BreakdownSeries {
  /** The property's value; null for the series of all other events. */
  value: string | number | boolean | null;
  buckets: BucketCount[];
  total: { count: number; users: number };
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
  /** With `breakdown`: the top values' series, most frequent first, then the others' (always present). */
  series?: BreakdownSeries[];
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
  where?: PropertyFilter;
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

/** `day`: the local day key (as BucketCount.key); `week`: floor((day key + 3) / 7), weeks starting on Monday. */
export type RetentionPeriod = 'day' | 'week';

export interface RetentionQuery {
  /** Cohort events (startEvent) in [from, to): inclusive, epoch ms. */
  from: number;
  to: number;
  /** Returning events (returnEvent) before this (exclusive); from `from` on. */
  end: number;
  period: RetentionPeriod;
  /** Periods after the cohort's that are counted: 1..periods. */
  periods: number;
  /** The zone's offsets over [from, end), as for CountQuery. */
  spans: OffsetSpan[];
  startEvent: string;
  returnEvent: string;
}

export interface RetentionCohort {
  /** The cohort's period key. */
  key: number;
  /** Users (userId, else anonymousId, as sent) with a startEvent in that period and range. */
  users: number;
  /** returned[k - 1]: those of them with a returnEvent in period key + k. */
  returned: number[];
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
  /** The cohorts with at least one user, in no particular order. A user is in every period's cohort they did startEvent in. */
  retention(project: string, q: RetentionQuery): Promise<RetentionCohort[]>;
}
