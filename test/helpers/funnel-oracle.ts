// The funnel's definition (contracts/stats-store.ts StatsStore.funnel), by brute force, for the tests
// to check the stores' SQL against: each of a user's step-1 events in [from, to) is a start; from it,
// each next step is the earliest matching event strictly after the previous step's and at most
// windowMs after the start; a user counts once, at the furthest step any start reached.

export interface FunnelOracle<E> {
  steps: number;
  /** The event matches step k (from 0). */
  matches(e: E, k: number): boolean;
  time(e: E): number;
  from: number;
  to: number;
  windowMs: number;
}

/** The users who reached each step, given each user's events. */
export function funnelByBruteForce<E>(eventsByUser: Iterable<readonly E[]>, f: FunnelOracle<E>): number[] {
  const reached = new Array<number>(f.steps).fill(0);
  for (const es of eventsByUser) {
    let best = 0;
    for (const start of es) {
      const t1 = f.time(start);
      if (!f.matches(start, 0) || t1 < f.from || t1 >= f.to) continue;
      let level = 1;
      let prev = t1;
      for (let k = 1; k < f.steps; k++) {
        const next = es.filter((e) => f.matches(e, k) && f.time(e) > prev && f.time(e) <= t1 + f.windowMs).map(f.time);
        if (next.length === 0) break;
        prev = Math.min(...next);
        level = k + 1;
      }
      best = Math.max(best, level);
    }
    for (let k = 0; k < best; k++) reached[k]++;
  }
  return reached;
}
