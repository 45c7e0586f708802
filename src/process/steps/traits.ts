// Trait merging shared by profiles and groups: per trait, the value from the event with the latest
// corrected timestamp wins (ties: the later arrival), so out-of-order delivery ends in the same state.
import type { TraitSet } from '../../contracts/profiles.js';

/** A plain object without a prototype: keys like `__proto__` stay ordinary data. */
export function bag<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

function put<T>(target: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Copies `from` into a prototype-free object (a row read back from a store). */
export function ownCopy<T>(from: Record<string, T> | null | undefined): Record<string, T> {
  const out = bag<T>();
  if (from) for (const k of Object.keys(from)) put(out, k, from[k]);
  return out;
}

/** Applies an event's traits at time `t`; true when something changed. */
export function applyTraits(set: TraitSet, traits: unknown, t: number): boolean {
  if (typeof traits !== 'object' || traits === null || Array.isArray(traits)) return false;
  let changed = false;
  for (const key of Object.keys(traits)) {
    const before = set.traitTs[key];
    if (before !== undefined && t < before) continue;
    put(set.traits, key, (traits as Record<string, unknown>)[key]);
    put(set.traitTs, key, t);
    changed = true;
  }
  return changed;
}

/** Merges `from` into `into`, trait by trait, the later timestamp winning. */
export function mergeTraits(into: TraitSet, from: TraitSet): void {
  for (const key of Object.keys(from.traits)) {
    const t = from.traitTs[key] ?? 0;
    const mine = into.traitTs[key];
    if (mine !== undefined && mine > t) continue;
    put(into.traits, key, from.traits[key]);
    put(into.traitTs, key, t);
  }
}
