import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { KeyTable } from './key-table.js';

// Days are UTC day numbers (about 20_000 today); 0 and 1 are reserved by the table (empty, tombstone).
const TODAY = 20_000;

/**
 * The 128-bit key of a small integer id. Many ids share the first word (the probe start), and some
 * start at the very end of the table, so probing runs long and wraps around.
 */
function key(id: number): Uint32Array {
  const k0 = id % 3 === 0 ? id % 7 : id % 3 === 1 ? (0xffffffff - (id % 5)) >>> 0 : Math.imul(id, 0x9e3779b1) >>> 0;
  return new Uint32Array([k0, id, ~id >>> 0, 0x5bd1e995]);
}

/** Keys of many ids in one array, 4 words each, as the callers use it (an offset into a batch). */
function keysOf(ids: number[]): Uint32Array {
  const out = new Uint32Array(ids.length * 4);
  ids.forEach((id, i) => out.set(key(id), i * 4));
  return out;
}

type Op =
  | { op: 'insert'; id: number; dayAhead: number }
  | { op: 'has'; id: number }
  | { op: 'remove'; id: number }
  | { op: 'advance'; days: number }
  | { op: 'fill'; from: number; n: number };

const id = fc.integer({ min: 0, max: 400 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('insert' as const), id, dayAhead: fc.integer({ min: 0, max: 3 }) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('has' as const), id }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('remove' as const), id }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('advance' as const), days: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('fill' as const), from: fc.integer({ min: 1000, max: 50_000 }), n: fc.integer({ min: 100, max: 900 }) }) },
);

/** The model: a Set of the string keys that are live, plus each key's day for expiry. */
class Model {
  readonly days = new Map<string, number>();
  minDay = TODAY - 7;
  live(id: number): boolean {
    const d = this.days.get(String(id));
    return d !== undefined && d >= this.minDay;
  }
  liveSet(): Set<string> {
    return new Set([...this.days].filter(([, d]) => d >= this.minDay).map(([k]) => k));
  }
}

describe('KeyTable against a Set model', () => {
  it('insert, present, remove and expiry by minDay agree with the model, through growth', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 120 }), (ops) => {
        const table = new KeyTable(0, 10_000_000);
        const model = new Model();
        const touched = new Set<number>();
        for (const o of ops) {
          switch (o.op) {
            case 'insert': {
              const day = model.minDay + 7 + o.dayAhead; // today, or a little later: never already expired
              const want = model.live(o.id) ? 'present' : 'inserted';
              expect(table.insert(key(o.id), 0, day, model.minDay)).toBe(want);
              if (want === 'inserted') model.days.set(String(o.id), day);
              touched.add(o.id);
              break;
            }
            case 'has':
              expect(table.has(key(o.id), 0, model.minDay)).toBe(model.live(o.id));
              break;
            case 'remove':
              table.remove(key(o.id), 0, model.minDay);
              model.days.delete(String(o.id));
              expect(table.has(key(o.id), 0, model.minDay)).toBe(false);
              break;
            case 'advance':
              model.minDay += o.days;
              break;
            case 'fill': {
              const ids = Array.from({ length: o.n }, (_, i) => o.from + i);
              const keys = keysOf(ids);
              const day = model.minDay + 7;
              ids.forEach((fid, i) => {
                const want = model.live(fid) ? 'present' : 'inserted';
                expect(table.insert(keys, i * 4, day, model.minDay)).toBe(want);
                if (want === 'inserted') model.days.set(String(fid), day);
                touched.add(fid);
              });
              break;
            }
          }
          expect(table.countLive(model.minDay)).toBe(model.liveSet().size);
          expect(table.occupied).toBeLessThanOrEqual(table.slots * 0.75);
        }
        for (const t of touched) expect(table.has(key(t), 0, model.minDay), `id ${t}`).toBe(model.live(t));
      }),
      { numRuns: 150 },
    );
  });

  it('grows from its initial size and keeps every key', () => {
    const table = new KeyTable(1024, 10_000_000);
    expect(table.slots).toBe(1024);
    const n = 20_000;
    const keys = keysOf(Array.from({ length: n }, (_, i) => i));
    for (let i = 0; i < n; i++) expect(table.insert(keys, i * 4, TODAY, TODAY - 7)).toBe('inserted');
    expect(table.slots).toBeGreaterThanOrEqual(n / 0.75);
    expect(Number.isInteger(Math.log2(table.slots))).toBe(true);
    expect(table.bytes).toBe(table.slots * 18);
    for (let i = 0; i < n; i++) expect(table.insert(keys, i * 4, TODAY, TODAY - 7)).toBe('present');
    expect(table.countLive(TODAY - 7)).toBe(n);
  });

  it('expired keys are not present, and make room instead of growth', () => {
    const table = new KeyTable(1024, 10_000_000);
    // Thirty days of 300 new keys a day, with a one-day window: 9000 keys pass through 1024 slots.
    const perDay = 300;
    for (let d = 0; d < 30; d++) {
      const minDay = TODAY + d;
      const keys = keysOf(Array.from({ length: perDay }, (_, i) => d * perDay + i));
      for (let i = 0; i < perDay; i++) expect(table.insert(keys, i * 4, TODAY + d, minDay)).toBe('inserted');
      expect(table.countLive(minDay)).toBe(perDay);
      if (d > 0) {
        const yesterday = keysOf(Array.from({ length: perDay }, (_, i) => (d - 1) * perDay + i));
        for (let i = 0; i < perDay; i++) expect(table.has(yesterday, i * 4, minDay)).toBe(false);
      }
    }
    expect(table.slots).toBe(1024);
    // An expired key comes back as new.
    expect(table.insert(key(0), 0, TODAY + 30, TODAY + 30)).toBe('inserted');
    expect(table.insert(key(0), 0, TODAY + 30, TODAY + 30)).toBe('present');
  });

  it('a removed key is absent and can be inserted again; remove is idempotent', () => {
    const table = new KeyTable(1024, 10_000_000);
    const k = key(42);
    expect(table.insert(k, 0, TODAY, TODAY - 7)).toBe('inserted');
    table.remove(k, 0, TODAY - 7);
    table.remove(k, 0, TODAY - 7);
    expect(table.has(k, 0, TODAY - 7)).toBe(false);
    expect(table.insert(k, 0, TODAY, TODAY - 7)).toBe('inserted');
    expect(table.has(k, 0, TODAY - 7)).toBe(true);
    // Removing one key of a probe chain leaves the keys behind it reachable.
    const chain = [0, 7, 14, 21, 28].map(key); // same first word: one chain
    for (const c of chain) table.insert(c, 0, TODAY, TODAY - 7);
    table.remove(chain[1], 0, TODAY - 7);
    for (const [i, c] of chain.entries()) expect(table.has(c, 0, TODAY - 7)).toBe(i !== 1);
  });
});

describe('KeyTable capacity (maxKeys)', () => {
  it('never answers full while fewer than maxKeys keys were inserted', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1024, max: 6000 }), (maxKeys) => {
        const table = new KeyTable(1024, maxKeys);
        const keys = keysOf(Array.from({ length: maxKeys }, (_, i) => i));
        for (let i = 0; i < maxKeys; i++) expect(table.insert(keys, i * 4, TODAY, TODAY - 7)).toBe('inserted');
        expect(table.countLive(TODAY - 7)).toBe(maxKeys);
      }),
      { numRuns: 15 },
    );
  });

  it('answers full past its capacity, and takes keys again once the window moves on', () => {
    const maxKeys = 3000;
    const table = new KeyTable(1024, maxKeys);
    const keys = keysOf(Array.from({ length: 4 * maxKeys }, (_, i) => i));
    let inserted = 0;
    while (table.insert(keys, inserted * 4, TODAY, TODAY - 7) === 'inserted') inserted++;
    expect(inserted).toBeGreaterThanOrEqual(maxKeys);
    expect(inserted).toBeLessThan(2 * maxKeys); // the bound below is exact; this is what holds today
    expect(table.insert(keys, inserted * 4, TODAY, TODAY - 7)).toBe('full');
    expect(table.has(keys, 0, TODAY - 7)).toBe(true);
    const slots = table.slots;
    // A week later every key has expired: room again, without growing.
    expect(table.insert(keys, inserted * 4, TODAY + 8, TODAY + 1)).toBe('inserted');
    expect(table.slots).toBe(slots);
    expect(table.countLive(TODAY + 1)).toBe(1);
  });

  // Known defect in key-table.ts (not ours to change here): maxKeys only caps growth; the table takes
  // keys until its slots are 75% used, so with maxKeys=3000 it holds 3072 keys (1000 -> 1536, 5000 ->
  // 6144: up to 2x). SOLUTE_DEDUPE_MAX_KEYS is documented as a hard cap. Flip to `it` once fixed.
  it('answers full exactly when maxKeys keys are live (maxKeys is a hard cap)', () => {
    for (const maxKeys of [1000, 3000, 5000]) {
      const table = new KeyTable(1024, maxKeys);
      const keys = keysOf(Array.from({ length: maxKeys + 1 }, (_, i) => i));
      for (let i = 0; i < maxKeys; i++) expect(table.insert(keys, i * 4, TODAY, TODAY - 7)).toBe('inserted');
      expect(table.insert(keys, maxKeys * 4, TODAY, TODAY - 7)).toBe('full');
    }
  });

  // Known defect in key-table.ts: insert checks for room before looking the key up, so at capacity a
  // key already present answers 'full' (a retried, already-stored event gets 503 SOL_ERR_DEDUPE_FULL
  // instead of being acknowledged as a duplicate). Flip to `it` once fixed.
  it('at capacity, a key already present still answers present', () => {
    const table = new KeyTable(1024, 1024);
    const keys = keysOf(Array.from({ length: 5000 }, (_, i) => i));
    let inserted = 0;
    while (table.insert(keys, inserted * 4, TODAY, TODAY - 7) === 'inserted') inserted++;
    expect(table.insert(keys, 0, TODAY, TODAY - 7)).toBe('present');
  });
});
