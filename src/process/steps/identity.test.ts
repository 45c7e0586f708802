// The identity step alone: links, merges, the refused merge, trait order. The store-level behaviour
// (state carried across batches, attribution of earlier events) is in test/integration/profiles.test.ts.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { LogLine } from '../../contracts/log-line.js';
import type { IdentityChanges, IdentityState, ProfileRow, StateBounds } from '../../contracts/profiles.js';
import { identityIds, resolveIdentity } from './identity.js';
import { DEFAULT_BOUNDS } from './traits.js';

let seq = 0;
function line(y: string, f: { u?: string; a?: string; t?: number; traits?: Record<string, unknown>; previousId?: string }): LogLine {
  const e: Record<string, unknown> = { type: y };
  if (f.traits) e.traits = f.traits;
  if (f.previousId) e.previousId = f.previousId;
  seq++;
  return { p: 'p', s: seq, t: f.t ?? seq, y, n: null, u: f.u ?? null, a: f.a ?? null, m: `m${seq}`, e };
}

/** Applies changes to an in-memory copy of the state, as a store would. */
function apply(state: IdentityState, c: IdentityChanges): IdentityState {
  const links = new Map(state.links);
  const profiles = new Map(state.profiles);
  for (const r of c.repoints) for (const [id, k] of links) if (k === r.from) links.set(id, r.to);
  for (const k of c.deleted) profiles.delete(k);
  for (const p of c.profiles) profiles.set(p.profile, p);
  for (const l of c.links) links.set(l.id, l.profile);
  return { links, profiles };
}

const empty = (): IdentityState => ({ links: new Map(), profiles: new Map() });

/** Runs batches one after another through the step, carrying the state like the store does. */
function run(...batches: LogLine[][]) {
  return runWith(DEFAULT_BOUNDS, ...batches);
}

function runWith(bounds: StateBounds, ...batches: LogLine[][]) {
  let state = empty();
  const warnings: IdentityChanges['warnings'] = [];
  for (const b of batches) {
    const needed = new Set(identityIds(b));
    // The store hands over only the links of the ids named, and their profiles.
    const view: IdentityState = { links: new Map([...state.links].filter(([id]) => needed.has(id))), profiles: new Map() };
    for (const k of view.links.values()) view.profiles.set(k, state.profiles.get(k)!);
    const out = resolveIdentity(b, view, bounds);
    expect(out.failed).toEqual([]);
    warnings.push(...out.changes.warnings);
    state = apply(state, out.changes);
  }
  const profileOf = (id: string): ProfileRow | undefined => state.profiles.get(state.links.get(id)!);
  const idsOf = (id: string) => [...state.links].filter(([, k]) => k === state.links.get(id)).map(([i]) => i).sort();
  return { state, warnings, profileOf, idsOf };
}

describe('identity step', () => {
  it('identify with both ids links the anonymousId to the userId and identifies the profile', () => {
    const r = run([line('identify', { u: 'u1', a: 'a1', traits: { plan: 'pro' } })]);
    expect(r.idsOf('u1')).toEqual(['a1', 'u1']);
    expect(r.profileOf('a1')).toMatchObject({ userId: 'u1', traits: { plan: 'pro' } });
  });

  it('anonymous traits follow the anonymous profile into the user profile on identify', () => {
    const r = run([line('identify', { a: 'a1', traits: { seen: 'landing' }, t: 1 })], [line('identify', { u: 'u1', a: 'a1', traits: { plan: 'pro' }, t: 2 })]);
    expect(r.profileOf('u1')!.traits).toEqual({ seen: 'landing', plan: 'pro' });
    expect(r.state.profiles.size).toBe(1);
  });

  it('a later trait wins by corrected timestamp, also when it arrives first', () => {
    const r = run([line('identify', { u: 'u1', traits: { plan: 'pro', name: 'B' }, t: 200 })], [line('identify', { u: 'u1', traits: { plan: 'free', email: 'x@y' }, t: 100 })]);
    expect(r.profileOf('u1')!.traits).toEqual({ plan: 'pro', name: 'B', email: 'x@y' });
  });

  it('within one batch, out of order too', () => {
    const r = run([line('identify', { u: 'u1', traits: { plan: 'pro' }, t: 200 }), line('identify', { u: 'u1', traits: { plan: 'free' }, t: 100 })]);
    expect(r.profileOf('u1')!.traits).toEqual({ plan: 'pro' });
  });

  it('follows alias chains: a1 → a2 → u1, then identify u1', () => {
    const r = run(
      [line('alias', { previousId: 'a1', u: 'a2' })],
      [line('alias', { previousId: 'a2', u: 'u1' })],
      [line('identify', { u: 'u1', traits: { plan: 'pro' } })],
    );
    expect(r.idsOf('a1')).toEqual(['a1', 'a2', 'u1']);
    expect(r.profileOf('a1')).toMatchObject({ userId: 'u1', traits: { plan: 'pro' } });
  });

  it('refuses to merge two identified users, records a warning, and keeps both apart', () => {
    const r = run([line('identify', { u: 'u1', a: 'a1', traits: { n: 1 } })], [line('identify', { u: 'u2', a: 'a1', traits: { n: 2 } })]);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatchObject({ kind: 'merge_refused' });
    expect(r.warnings[0].detail).toMatch(/u1.*u2|u2.*u1/);
    expect(r.idsOf('u1')).toEqual(['a1', 'u1']);
    expect(r.idsOf('u2')).toEqual(['u2']);
    // The refused event's traits still reach the user it named.
    expect(r.profileOf('u2')!.traits).toEqual({ n: 2 });
    expect(r.profileOf('u1')!.traits).toEqual({ n: 1 });
  });

  it('refuses an alias between two identified users', () => {
    const r = run([line('identify', { u: 'u1' }), line('identify', { u: 'u2' })], [line('alias', { previousId: 'u1', u: 'u2' })]);
    expect(r.warnings).toHaveLength(1);
    expect(r.idsOf('u1')).toEqual(['u1']);
  });

  it('alias into an identified user keeps that user identified and its key', () => {
    const r = run([line('identify', { u: 'u1', traits: { a: 1 } })], [line('alias', { previousId: 'anon', u: 'u1' })]);
    expect(r.profileOf('anon')).toMatchObject({ profile: 'u1', userId: 'u1' });
  });

  it('keeps prototype keys in traits as data', () => {
    const traits = JSON.parse('{"__proto__": {"polluted": true}, "constructor": "c"}') as Record<string, unknown>;
    const r = run([line('identify', { u: 'u1', traits })]);
    expect(Object.keys(r.profileOf('u1')!.traits).sort()).toEqual(['__proto__', 'constructor']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('ignores track events and reports an identify without ids as failed', () => {
    const bad = line('identify', {});
    const out = resolveIdentity([line('track', { u: 'u1' }), bad], empty());
    expect(out.failed).toEqual([{ line: bad, reason: expect.stringMatching(/without userId or anonymousId/) }]);
    expect(out.changes.links).toEqual([]);
  });

  it('merges across three batches deterministically whatever the batch boundaries', () => {
    const events = [
      line('identify', { a: 'a1', traits: { x: 1 }, t: 5 }),
      line('identify', { a: 'a2', traits: { x: 2 }, t: 6 }),
      line('alias', { previousId: 'a2', u: 'a1' }),
      line('identify', { u: 'u1', a: 'a1', traits: { y: 1 }, t: 4 }),
    ];
    const one = run(events);
    const split = run([events[0]], [events[1], events[2]], [events[3]]);
    expect(one.profileOf('a2')!.traits).toEqual({ x: 2, y: 1 });
    expect(split.profileOf('a2')!.traits).toEqual(one.profileOf('a2')!.traits);
    expect(split.idsOf('u1')).toEqual(one.idsOf('u1'));
    expect(split.idsOf('u1')).toEqual(['a1', 'a2', 'u1']);
  });
});

describe('identity step: bounds', () => {
  const small: StateBounds = { maxTraits: 2, maxTraitsBytes: 100, maxLinkedIds: 3, maxLinkedIdsBytes: 30 };

  it('counts the ids and bytes of ids of each profile, across merges', () => {
    const r = runWith(small, [line('identify', { u: 'u1', a: 'a1' })], [line('alias', { previousId: 'é', u: 'u1' })]);
    expect(r.profileOf('u1')).toMatchObject({ idCount: 3, idBytes: 2 + 2 + 2 });
  });

  it('refuses a merge past the ids bound, records it on the profile the event named, and keeps the traits there', () => {
    const refused = line('identify', { u: 'u1', a: 'a3', traits: { plan: 'pro' }, t: 50 });
    const r = runWith(small, [line('identify', { u: 'u1', a: 'a1' }), line('identify', { u: 'u1', a: 'a2' })], [refused]);
    expect(r.warnings.map((w) => w.kind)).toEqual(['linked_ids_too_many']);
    expect(r.warnings[0].detail).toBe('would link 1 more id(s) to a profile of 3: at most 3 ids per profile (SOLUTE_MAX_LINKED_IDS); the profiles stay apart');
    expect(r.idsOf('u1')).toEqual(['a1', 'a2', 'u1']);
    expect(r.idsOf('a3')).toEqual(['a3']);
    expect(r.profileOf('u1')).toMatchObject({
      traits: { plan: 'pro' },
      warnings: { linked_ids_too_many: { count: 1, lastMessageId: refused.m, lastAt: 50 } },
    });
  });

  it('refuses a merge past the bytes of ids', () => {
    const r = runWith(small, [line('identify', { u: 'u'.repeat(20), a: 'a'.repeat(11) })]);
    expect(r.warnings.map((w) => w.kind)).toEqual(['linked_ids_too_large']);
    expect(r.state.profiles.size).toBe(2);
  });

  it('keeps traits past the bound out of the profile, also when merging, and records them', () => {
    const r = runWith(
      small,
      [line('identify', { a: 'anon', traits: { x: 1, y: 2 }, t: 10 })],
      [line('identify', { u: 'u1', traits: { plan: 'pro' }, t: 5 }), line('identify', { u: 'u1', a: 'anon', t: 20 })],
    );
    // u1 survives (identified); anon's x and y merged in: one fits, one does not.
    expect(r.profileOf('anon')!.traits).toEqual({ plan: 'pro', x: 1 });
    expect(r.warnings).toEqual([expect.objectContaining({ kind: 'traits_too_many', detail: expect.stringMatching(/^1 trait\(s\) of the merged profile not applied \("y"\)/) })]);
  });

  it('property: every profile stays within the bounds, its id counts are exact, and its warnings add up', () => {
    const ids = ['u1', 'u2', 'u3', 'a1', 'a2', 'a3', 'a4', 'ééé', 'long-anonymous-id'];
    const lineArb = fc.oneof(
      fc.record({ y: fc.constant('identify'), u: fc.option(fc.constantFrom(...ids), { nil: undefined }), a: fc.constantFrom(...ids), t: fc.integer({ min: 0, max: 9 }), traits: fc.dictionary(fc.constantFrom('p', 'q', 'r', 's'), fc.string({ maxLength: 30 }), { maxKeys: 3 }) }),
      fc.record({ y: fc.constant('alias'), u: fc.constantFrom(...ids), previousId: fc.constantFrom(...ids), t: fc.integer({ min: 0, max: 9 }) }),
    );
    fc.assert(
      fc.property(fc.array(lineArb, { minLength: 1, maxLength: 25 }), fc.array(fc.integer({ min: 1, max: 6 }), { maxLength: 8 }), (specs, cuts) => {
        const all = specs.map((s) => line(s.y, s));
        const batches: LogLine[][] = [];
        let i = 0;
        for (const c of cuts) (batches.push(all.slice(i, i + c)), (i += c));
        batches.push(all.slice(i));
        const r = runWith(small, ...batches.filter((b) => b.length > 0));
        let summed = 0;
        for (const p of r.state.profiles.values()) {
          const linked = [...r.state.links].filter(([, k]) => k === p.profile).map(([id]) => id);
          expect(p.idCount).toBe(linked.length);
          expect(p.idBytes).toBe(linked.reduce((n, id) => n + Buffer.byteLength(id), 0));
          expect(p.idCount).toBeLessThanOrEqual(small.maxLinkedIds);
          expect(p.idBytes).toBeLessThanOrEqual(Math.max(small.maxLinkedIdsBytes, Buffer.byteLength(p.profile)));
          expect(Object.keys(p.traits).length).toBeLessThanOrEqual(small.maxTraits);
          expect(Buffer.byteLength(JSON.stringify(p.traits))).toBeLessThanOrEqual(small.maxTraitsBytes);
          for (const w of Object.values(p.warnings)) summed += w!.count;
        }
        // Every warning the step reported is counted on exactly one live profile (merges carry them over).
        expect(summed).toBe(r.warnings.length);
      }),
      { numRuns: 300 },
    );
  });
});
