// A count's breakdown by one property (contracts/stats-store.ts CountQuery.breakdown), shared by both
// stores. Each store writes the property's value as a tagged text in SQL (`s` + a string, `b` +
// true/false, `n` + a number's text; NULL for anything else), finds the most frequent ones, then
// counts per (tag, bucket) with the others folded into one series; this turns those rows into series.
import type { BreakdownSeries, BucketCount } from '../contracts/stats-store.js';

/** The property value a tagged text stands for. */
export function untag(tagged: string): string | number | boolean {
  const body = tagged.slice(1);
  if (tagged[0] === 's') return body;
  if (tagged[0] === 'b') return body === 'true';
  return Number(body);
}

export interface SeriesRow {
  /** The tagged value, or null for the other events. */
  s: string | null;
  k: number | null;
  /** 1 on a series' total row. */
  g: number;
  n: number;
  users: number;
}

/** The series of `top` (tagged values, most frequent first), then the other events' (always there, maybe empty). */
export function seriesOf(rows: readonly SeriesRow[], top: readonly string[]): BreakdownSeries[] {
  const by = new Map<string | null, BreakdownSeries>();
  for (const t of [...top, null]) by.set(t, { value: t === null ? null : untag(t), buckets: [], total: { count: 0, users: 0 } });
  for (const r of rows) {
    const series = by.get(r.s);
    if (series === undefined) throw new Error(`breakdown: a value outside the top ones (${String(r.s).slice(0, 40)})`);
    if (Number(r.g) === 1) series.total = { count: Number(r.n), users: Number(r.users) };
    else series.buckets.push({ key: Number(r.k), count: Number(r.n), users: Number(r.users) } satisfies BucketCount);
  }
  return [...by.values()];
}
