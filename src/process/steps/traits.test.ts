// The trait rule and its bounds alone: what applies, what a bound keeps out, trimming, and the
// running size against a full measure (property tests over random updates).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { StateBounds, TraitSet } from '../../contracts/profiles.js';
import { applyTraits, bag, mergeTraits, mergeWarnings, noteWarning, ownCopy, traitSize, traitWarnings, trimTraits } from './traits.js';

const bytesOf = (v: unknown) => Buffer.byteLength(JSON.stringify(v), 'utf8');
const fresh = (): TraitSet => ({ traits: bag(), traitTs: bag() });
const bounds = (maxTraits: number, maxTraitsBytes: number): StateBounds => ({ maxTraits, maxTraitsBytes, maxLinkedIds: 1000, maxLinkedIdsBytes: 65536 });

/** Random traits: keys from a small pool (so updates happen), values of any JSON kind and size, non-ASCII included. */
const traitsArb = fc.dictionary(
  fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'é', '__proto__', 'constructor'),
  fc.oneof(fc.string({ maxLength: 80 }), fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string({ unit: 'grapheme', maxLength: 5 }), { maxLength: 5 })),
  { maxKeys: 6 },
);
const updatesArb = fc.array(fc.record({ traits: traitsArb, t: fc.integer({ min: 0, max: 20 }) }), { maxLength: 30 });

describe('traits within bounds', () => {
  it('applies an update of a trait the set has, and keeps new traits past the count out', () => {
    const s = fresh();
    const b = bounds(2, 1000);
    expect(applyTraits(s, { a: 1, b: 2 }, 1, b)).toEqual({ changed: true, tooMany: [], tooLarge: [] });
    expect(applyTraits(s, { a: 3, c: 4, d: 5 }, 2, b)).toEqual({ changed: true, tooMany: ['c', 'd'], tooLarge: [] });
    expect(s.traits).toEqual({ a: 3, b: 2 });
    expect(s.traitTs).toEqual({ a: 2, b: 1 });
  });

  it('keeps out a value that would grow the set past its size, and applies one that shrinks it', () => {
    const s = fresh();
    const b = bounds(100, 40);
    applyTraits(s, { a: 'x'.repeat(20) }, 1, b); // {"a":"xxxxxxxxxxxxxxxxxxxx"} = 28 bytes
    expect(applyTraits(s, { b: 'y'.repeat(10) }, 2, b)).toMatchObject({ changed: false, tooLarge: ['b'] }); // would be 45
    expect(applyTraits(s, { a: 'é'.repeat(17) }, 3, b)).toMatchObject({ changed: false, tooLarge: ['a'] }); // 2 bytes a character: 42
    expect(s.traits).toEqual({ a: 'x'.repeat(20) });
    expect(applyTraits(s, { a: 1, b: 2 }, 4, b)).toMatchObject({ changed: true, tooLarge: [] });
    expect(s.traits).toEqual({ a: 1, b: 2 });
  });

  it('does not count an older value as applied or as kept out', () => {
    const s = fresh();
    applyTraits(s, { a: 'new' }, 10, bounds(1, 1000));
    expect(applyTraits(s, { a: 'old', b: 1 }, 5, bounds(1, 1000))).toEqual({ changed: false, tooMany: ['b'], tooLarge: [] });
    expect(s.traits).toEqual({ a: 'new' });
  });

  it('property: whatever the updates, the set stays within both bounds and its running size is exact', () => {
    fc.assert(
      fc.property(updatesArb, fc.integer({ min: 1, max: 6 }), fc.integer({ min: 2, max: 300 }), (updates, maxTraits, maxTraitsBytes) => {
        const s = fresh();
        const b = bounds(maxTraits, maxTraitsBytes);
        for (const u of updates) {
          const before = ownCopy(s.traits);
          const beforeTs = ownCopy(s.traitTs);
          const o = applyTraits(s, u.traits, u.t, b);
          // Every key of the event was applied, older than what the set has, or reported.
          for (const k of Object.keys(u.traits)) {
            const applied = Object.hasOwn(s.traits, k) && s.traitTs[k] === u.t && Object.is(s.traits[k], u.traits[k]);
            const older = beforeTs[k] !== undefined && u.t < beforeTs[k];
            const kept = o.tooMany.includes(k) || o.tooLarge.includes(k);
            expect(applied || older || kept, k).toBe(true);
            if (kept) expect(s.traits[k]).toEqual(before[k]);
          }
          expect(Object.keys(s.traits).length).toBeLessThanOrEqual(maxTraits);
          expect(bytesOf(s.traits)).toBeLessThanOrEqual(Math.max(maxTraitsBytes, 2));
          expect(traitSize(s)).toEqual({ count: Object.keys(s.traits).length, bytes: bytesOf(s.traits) });
        }
      }),
      { numRuns: 300 },
    );
  });

  it('property: bounds that never bind change nothing: the latest timestamp wins per trait', () => {
    fc.assert(
      fc.property(updatesArb, (updates) => {
        const s = fresh();
        const model = new Map<string, { v: unknown; t: number }>();
        for (const u of updates) {
          expect(applyTraits(s, u.traits, u.t, bounds(1000, 1 << 20))).toMatchObject({ tooMany: [], tooLarge: [] });
          for (const [k, v] of Object.entries(u.traits)) {
            const m = model.get(k);
            if (m === undefined || u.t >= m.t) model.set(k, { v, t: u.t });
          }
        }
        expect(Object.fromEntries(Object.entries(s.traits))).toEqual(Object.fromEntries([...model].map(([k, m]) => [k, m.v])));
      }),
      { numRuns: 200 },
    );
  });

  it('property: a merge stays within the bounds, and with room it equals applying both', () => {
    fc.assert(
      fc.property(updatesArb, updatesArb, fc.integer({ min: 1, max: 8 }), fc.integer({ min: 2, max: 400 }), (ua, ub, maxTraits, maxTraitsBytes) => {
        const b = bounds(maxTraits, maxTraitsBytes);
        const [x, y] = [fresh(), fresh()];
        for (const u of ua) applyTraits(x, u.traits, u.t, b);
        for (const u of ub) applyTraits(y, u.traits, u.t, b);
        mergeTraits(x, y, b);
        expect(Object.keys(x.traits).length).toBeLessThanOrEqual(maxTraits);
        expect(bytesOf(x.traits)).toBeLessThanOrEqual(maxTraitsBytes);
        expect(traitSize(x)).toEqual({ count: Object.keys(x.traits).length, bytes: bytesOf(x.traits) });
      }),
      { numRuns: 200 },
    );
  });
});

describe('trimming a set already past a bound', () => {
  it('keeps the most recently set traits, in their order, and reports the others', () => {
    const s: TraitSet = { traits: { a: 1, b: 2, c: 3, d: 4 }, traitTs: { a: 4, b: 1, c: 3, d: 2 } };
    expect(trimTraits(s, bounds(2, 1000))).toEqual({ changed: true, tooMany: ['d', 'b'], tooLarge: [] });
    expect(s.traits).toEqual({ a: 1, c: 3 });
    expect(Object.keys(s.traits)).toEqual(['a', 'c']);
    expect(s.traitTs).toEqual({ a: 4, c: 3 });
    expect(trimTraits(s, bounds(2, 1000)).changed).toBe(false);
  });

  it('skips a trait too large to fit and keeps smaller, older ones', () => {
    const s: TraitSet = { traits: { big: 'x'.repeat(100), small: 1, tiny: 2 }, traitTs: { big: 9, small: 5, tiny: 1 } };
    expect(trimTraits(s, bounds(10, 50))).toEqual({ changed: true, tooMany: [], tooLarge: ['big'] });
    expect(s.traits).toEqual({ small: 1, tiny: 2 });
  });

  it('property: the result is within the bounds, a subset of what it was, and exact in size', () => {
    fc.assert(
      fc.property(updatesArb, fc.integer({ min: 1, max: 6 }), fc.integer({ min: 2, max: 300 }), (updates, maxTraits, maxTraitsBytes) => {
        const s = fresh();
        for (const u of updates) applyTraits(s, u.traits, u.t, bounds(1000, 1 << 20));
        const before = ownCopy(s.traits);
        const ts = ownCopy(s.traitTs);
        const o = trimTraits(s, bounds(maxTraits, maxTraitsBytes));
        expect(Object.keys(s.traits).length).toBeLessThanOrEqual(maxTraits);
        expect(bytesOf(s.traits)).toBeLessThanOrEqual(maxTraitsBytes);
        for (const [k, v] of Object.entries(s.traits)) expect(v).toEqual(before[k]);
        expect([...Object.keys(s.traits), ...o.tooMany, ...o.tooLarge].sort()).toEqual(Object.keys(before).sort());
        // By count alone, nothing removed was set later than something kept.
        if (o.tooLarge.length === 0 && o.tooMany.length > 0) {
          const oldestKept = Math.min(...Object.keys(s.traits).map((k) => ts[k]));
          for (const k of o.tooMany) expect(ts[k]).toBeLessThanOrEqual(oldestKept);
        }
        expect(traitSize(s)).toEqual({ count: Object.keys(s.traits).length, bytes: bytesOf(s.traits) });
      }),
      { numRuns: 300 },
    );
  });
});

describe('warnings of a trait outcome', () => {
  it('names the bound and its variable, with a few keys', () => {
    const ws = traitWarnings({ changed: false, tooMany: ['a', 'b', 'c', 'd', 'e', 'f', 'g'], tooLarge: ['x'] }, 'm1', 'group', bounds(3, 100), 'applied');
    expect(ws).toEqual([
      { messageId: 'm1', subject: 'group', kind: 'traits_too_many', detail: '7 trait(s) not applied ("a", "b", "c", "d", "e" and 2 more): at most 3 traits per group (SOLUTE_MAX_TRAITS)' },
      { messageId: 'm1', subject: 'group', kind: 'traits_too_large', detail: '1 trait(s) not applied ("x"): at most 100 bytes of traits per group (SOLUTE_MAX_TRAITS_BYTES)' },
    ]);
  });

  it('keeps one summary per kind: counts add up, the latest is the last', () => {
    const a = {};
    noteWarning(a, { messageId: 'm1', subject: 'profile', kind: 'traits_too_many', detail: 'd1' }, 10);
    noteWarning(a, { messageId: 'm2', subject: 'profile', kind: 'traits_too_many', detail: 'd2' }, 5);
    expect(a).toEqual({ traits_too_many: { count: 2, lastMessageId: 'm2', lastAt: 5, detail: 'd2' } });
    const b = { traits_too_many: { count: 3, lastMessageId: 'm9', lastAt: 7, detail: 'd9' }, merge_refused: { count: 1, lastMessageId: 'm0', lastAt: 1, detail: 'r' } };
    mergeWarnings(a, b);
    expect(a).toEqual({ traits_too_many: { count: 5, lastMessageId: 'm9', lastAt: 7, detail: 'd9' }, merge_refused: b.merge_refused });
  });
});
