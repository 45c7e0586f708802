// An open-addressing hash set of 128-bit keys, each stamped with the UTC day it was first received.
// Typed arrays only: 18 bytes a slot (16 of key, 2 of day), no per-key objects for the GC to walk.
// Linear probing; a slot's day is EMPTY, TOMBSTONE (removed after a failed write) or a day number.

const EMPTY = 0;
const TOMBSTONE = 1;
const MAX_LOAD = 0.75;

export type InsertResult = 'inserted' | 'present' | 'full';

export class KeyTable {
  private cap: number;
  private words: Uint32Array;
  private days: Uint16Array;
  /** Non-empty slots (live, expired and tombstones): what drives probing length and growth. */
  private used = 0;
  private fullAtMinDay = -1;

  constructor(
    initialCapacity: number,
    /** Most keys this table may hold; past it insert answers 'full' instead of growing. */
    private readonly maxKeys: number,
  ) {
    this.cap = pow2AtLeast(Math.max(1024, initialCapacity));
    this.words = new Uint32Array(this.cap * 4);
    this.days = new Uint16Array(this.cap);
  }

  get slots(): number {
    return this.cap;
  }

  get occupied(): number {
    return this.used;
  }

  /** Bytes held by the table's arrays. */
  get bytes(): number {
    return this.words.byteLength + this.days.byteLength;
  }

  /** Inserts unless a live key (day >= minDay) is there already. */
  insert(key: Uint32Array, off: number, day: number, minDay: number): InsertResult {
    if (this.used + 1 > this.cap * MAX_LOAD || this.used + 1 > this.maxKeys) {
      if (this.find(key, off, minDay) >= 0) return 'present'; // a retry is a duplicate even when full
      if (!this.makeRoom(minDay)) return 'full';
    }
    const mask = this.cap - 1;
    const k0 = key[off], k1 = key[off + 1], k2 = key[off + 2], k3 = key[off + 3];
    const w = this.words, d = this.days;
    let reuse = -1;
    for (let i = k0 & mask; ; i = (i + 1) & mask) {
      const sd = d[i];
      if (sd === EMPTY) {
        const slot = reuse >= 0 ? reuse : i;
        if (reuse < 0) this.used++;
        const b = slot * 4;
        w[b] = k0; w[b + 1] = k1; w[b + 2] = k2; w[b + 3] = k3;
        d[slot] = day;
        return 'inserted';
      }
      const b = i * 4;
      const live = sd >= minDay;
      if (live && w[b] === k0 && w[b + 1] === k1 && w[b + 2] === k2 && w[b + 3] === k3) return 'present';
      if (!live && reuse < 0) reuse = i;
    }
  }

  has(key: Uint32Array, off: number, minDay: number): boolean {
    const i = this.find(key, off, minDay);
    return i >= 0;
  }

  /** Removes a live key (used when the write that carried it failed); false when it was not there. */
  remove(key: Uint32Array, off: number, minDay: number): boolean {
    const i = this.find(key, off, minDay);
    if (i < 0) return false;
    this.days[i] = TOMBSTONE;
    this.fullAtMinDay = -1;
    return true;
  }

  /** Live keys, counted by a scan (for metrics and tests, not the hot path). */
  countLive(minDay: number): number {
    let n = 0;
    for (let i = 0; i < this.cap; i++) if (this.days[i] >= minDay) n++;
    return n;
  }

  private find(key: Uint32Array, off: number, minDay: number): number {
    const mask = this.cap - 1;
    const k0 = key[off], k1 = key[off + 1], k2 = key[off + 2], k3 = key[off + 3];
    const w = this.words, d = this.days;
    for (let i = k0 & mask; ; i = (i + 1) & mask) {
      const sd = d[i];
      if (sd === EMPTY) return -1;
      const b = i * 4;
      if (sd >= minDay && w[b] === k0 && w[b + 1] === k1 && w[b + 2] === k2 && w[b + 3] === k3) return i;
    }
  }

  /**
   * Rehashes, dropping expired keys and tombstones, into a table grown to at most 50% load but never
   * past the size that holds maxKeys at 75%; false when the live keys already reach maxKeys. That
   * verdict is kept until the window moves on (minDay changes) or a key is removed, so a full table
   * does not rescan itself on every insert.
   */
  private makeRoom(minDay: number): boolean {
    if (this.fullAtMinDay === minDay) return false;
    const live = this.countLive(minDay);
    if (live + 1 > this.maxKeys) {
      this.fullAtMinDay = minDay;
      return false;
    }
    const maxCap = pow2AtLeast(Math.ceil((this.maxKeys + 1) / MAX_LOAD));
    let next = this.cap;
    while (live + 1 > next * MAX_LOAD * 0.5 && next < maxCap) next *= 2;
    this.rehash(next, minDay);
    return true;
  }

  private rehash(newCap: number, minDay: number): void {
    const oldW = this.words, oldD = this.days, oldCap = this.cap;
    this.cap = newCap;
    this.words = new Uint32Array(newCap * 4);
    this.days = new Uint16Array(newCap);
    this.used = 0;
    const mask = newCap - 1;
    for (let i = 0; i < oldCap; i++) {
      const day = oldD[i];
      if (day < minDay || day === TOMBSTONE) continue;
      const b = i * 4;
      let j = oldW[b] & mask;
      while (this.days[j] !== EMPTY) j = (j + 1) & mask;
      const nb = j * 4;
      this.words[nb] = oldW[b]; this.words[nb + 1] = oldW[b + 1]; this.words[nb + 2] = oldW[b + 2]; this.words[nb + 3] = oldW[b + 3];
      this.days[j] = day;
      this.used++;
    }
  }
}

function pow2AtLeast(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}
