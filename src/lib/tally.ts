// A count per key that forgets a key whose count falls to zero, so a map of per-project figures
// holds only the projects that have something counted (the ack path's, the processor's and the
// bytes-in-flight bound's per-project tallies).
export class Tally<K> {
  private readonly counts = new Map<K, number>();

  get(key: K): number {
    return this.counts.get(key) ?? 0;
  }

  add(key: K, n: number): void {
    const next = (this.counts.get(key) ?? 0) + n;
    if (next > 0) this.counts.set(key, next);
    else this.counts.delete(key);
  }
}
