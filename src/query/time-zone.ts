// Time zones for the stats routes, from the IANA database that Node's Intl carries (no DuckDB ICU,
// no dependency): a zone's UTC offset as a step function of time, and the hour or day buckets of a
// range in that zone, DST included. The store groups by keys computed from the same steps
// (contracts/stats-store.ts), so the buckets here and the rows there meet exactly.
import type { OffsetSpan, StatsInterval } from '../contracts/stats-store.js';

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

const formatters = new Map<string, Intl.DateTimeFormat>();

/** The zone's canonical name as Intl has it (`utc` → `UTC`), or null when Intl does not know it. */
export function canonicalTimeZone(tz: string): string | null {
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: tz }).resolvedOptions().timeZone;
  } catch {
    return null;
  }
}

function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      era: 'short',
    });
    formatters.set(tz, f);
  }
  return f;
}

/** The zone's offset from UTC at instant `ms`, in ms (local = UTC + offset). Whole seconds. */
export function offsetAt(tz: string, ms: number): number {
  const p: Record<string, string> = {};
  for (const part of formatter(tz).formatToParts(ms)) p[part.type] = part.value;
  const year = p.era === 'BC' || p.era === 'B' ? 1 - Number(p.year) : Number(p.year);
  const local = Date.UTC(year, Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute), Number(p.second));
  const utcSeconds = Math.floor(ms / 1000) * 1000;
  return local - utcSeconds;
}

// A zone's offset changes are found by sampling once a day and bisecting to the millisecond between
// two samples that differ; two changes within one day (no zone has them since the 1940s) would be missed.
// Found changes are cached per zone and UTC year (bounded: the cache is dropped past 2000 entries).
const yearCache = new Map<string, Array<{ at: number; offsetMs: number }>>();

function changesInYear(tz: string, year: number): Array<{ at: number; offsetMs: number }> {
  const key = `${tz}\0${year}`;
  const hit = yearCache.get(key);
  if (hit) return hit;
  const start = Date.UTC(year, 0, 1);
  const end = Date.UTC(year + 1, 0, 1);
  const out: Array<{ at: number; offsetMs: number }> = [];
  let t = start;
  let o = offsetAt(tz, t);
  while (t < end) {
    const next = Math.min(t + DAY_MS, end);
    const on = offsetAt(tz, next);
    if (on !== o) {
      let lo = t; // offset o
      let hi = next; // offset on
      while (hi - lo > 1) {
        const mid = Math.floor((lo + hi) / 2);
        if (offsetAt(tz, mid) === o) lo = mid;
        else hi = mid;
      }
      out.push({ at: hi, offsetMs: on });
    }
    t = next;
    o = on;
  }
  if (yearCache.size > 2000) yearCache.clear();
  yearCache.set(key, out);
  return out;
}

/**
 * The zone's offset over [from, to): spans in time order, each with the offset that holds from its
 * `start` until the next span's; the first starts at or before `from`.
 */
export function offsetSpans(tz: string, from: number, to: number): OffsetSpan[] {
  const spans: OffsetSpan[] = [{ start: from, offsetMs: offsetAt(tz, from) }];
  const y0 = new Date(from).getUTCFullYear();
  const y1 = new Date(to).getUTCFullYear();
  for (let y = y0; y <= y1; y++) {
    for (const c of changesInYear(tz, y)) {
      if (c.at > from && c.at < to && c.offsetMs !== spans.at(-1)!.offsetMs) spans.push({ start: c.at, offsetMs: c.offsetMs });
    }
  }
  return spans;
}

const mod = (n: number, m: number) => ((n % m) + m) % m;

function spanAt(spans: readonly OffsetSpan[], ms: number): number {
  let i = 0;
  while (i + 1 < spans.length && spans[i + 1].start <= ms) i++;
  return i;
}

/**
 * The bucket key of instant `ms`, as the store computes it (contracts/stats-store.ts):
 * day: the local calendar day number; hour: the instant the local hour starts, not before its span's
 * start (except for the first span), so the hour repeated when clocks go back is two buckets.
 */
export function bucketKey(interval: StatsInterval, spans: readonly OffsetSpan[], ms: number): number {
  const i = spanAt(spans, ms);
  const s = spans[i];
  if (interval === 'day') return Math.floor((ms + s.offsetMs) / DAY_MS);
  return Math.max(i === 0 ? -Infinity : s.start, ms - mod(ms + s.offsetMs, HOUR_MS));
}

export interface Bucket {
  key: number;
  /** First instant of the bucket, epoch ms (may be before the range's `from`). */
  start: number;
}

/** Every bucket that overlaps [from, to), in time order. `spans` must come from offsetSpans(tz, from, to). */
export function bucketsOf(interval: StatsInterval, spans: readonly OffsetSpan[], from: number, to: number): Bucket[] {
  const out: Bucket[] = [];
  if (interval === 'hour') {
    // Walk the hour keys: within a span they step by an hour; a new span starts a new key.
    for (let i = 0; i < spans.length; i++) {
      const s = spans[i];
      const end = Math.min(spans[i + 1]?.start ?? to, to);
      let k = bucketKey('hour', spans, Math.max(s.start, from));
      while (k < end) {
        out.push({ key: k, start: k });
        k = k - mod(k + s.offsetMs, HOUR_MS) + HOUR_MS;
      }
    }
    return out;
  }
  const first = bucketKey('day', spans, from);
  const last = bucketKey('day', spans, to - 1);
  for (let d = first; d <= last; d++) {
    const start = dayStart(spans, d);
    if (start !== null) out.push({ key: d, start });
  }
  return out;
}

/** The first instant of local day `d`: the earliest t with t + offset(t) >= d days (DST at midnight included); null if the day was skipped. */
export function dayStart(spans: readonly OffsetSpan[], d: number): number | null {
  for (let i = 0; i < spans.length; i++) {
    const s = spans[i];
    const next = spans[i + 1]?.start ?? Infinity;
    // Before the first span's start, the first span's offset still holds (spans begin at `from`).
    const lo = i === 0 ? -Infinity : s.start;
    const t = Math.max(lo, d * DAY_MS - s.offsetMs);
    if (t < next && Math.floor((t + s.offsetMs) / DAY_MS) === d) return t;
  }
  return null;
}

/** ISO 8601 with the zone's offset at that instant, e.g. 2025-03-09T00:00:00.000-05:00 (Z for offset 0). */
export function formatInZone(tz: string, ms: number): string {
  const off = offsetAt(tz, ms);
  const local = new Date(ms + off).toISOString().slice(0, -1);
  if (off === 0) return `${local}Z`;
  const a = Math.abs(off) / 60_000;
  const hh = String(Math.floor(a / 60)).padStart(2, '0');
  const mm = String(a % 60).padStart(2, '0');
  return `${local}${off < 0 ? '-' : '+'}${hh}:${mm}`;
}
