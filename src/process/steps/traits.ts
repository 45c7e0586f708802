// Trait merging shared by profiles and groups: per trait, the value from the event with the latest
// corrected timestamp wins (ties: the later arrival), so out-of-order delivery ends in the same state.
//
// Bounds (docs/api.md, "Bounds"): a trait set holds at most `maxTraits` traits and `maxTraitsBytes`
// bytes of traits (UTF-8 of JSON.stringify(traits)). A change that would pass a bound is not applied
// and reported (the caller turns it into a warning): a new key past the count, or a value that grows
// the set past its size. A change that keeps or shrinks the size always applies. A stored set already
// past a bound (written before the bounds existed, or under larger ones) is trimmed when a batch next
// touches it: the most recently set traits are kept.
import type { StateBounds, StateWarning, TraitSet, WarningSummaries } from '../../contracts/profiles.js';

export const DEFAULT_BOUNDS: Readonly<StateBounds> = Object.freeze({
  maxTraits: 1000,
  maxTraitsBytes: 256 * 1024,
  maxLinkedIds: 1000,
  maxLinkedIdsBytes: 64 * 1024,
});

/** A plain object without a prototype: keys like `__proto__` stay ordinary data. */
export function bag<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

function put<T>(target: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

const has = (o: object, key: string) => Object.prototype.hasOwnProperty.call(o, key);

/** Copies `from` into a prototype-free object (a row read back from a store). */
export function ownCopy<T>(from: Record<string, T> | null | undefined): Record<string, T> {
  const out = bag<T>();
  if (from) for (const k of Object.keys(from)) put(out, k, from[k]);
  return out;
}

/** UTF-8 bytes of a value as JSON. */
export function jsonBytes(v: unknown): number {
  return Buffer.byteLength(JSON.stringify(v) ?? 'null', 'utf8');
}

/** Bytes one `"key":value` member adds to the traits object's JSON. */
function entryBytes(key: string, value: unknown): number {
  return jsonBytes(key) + 1 + jsonBytes(value);
}

interface Size {
  count: number;
  bytes: number;
}

// The running size of each trait set the steps touch, so a change costs the bytes of that change
// rather than a measure of the whole set. Only the functions of this module change trait sets.
const sizes = new WeakMap<TraitSet, Size>();

/** The set's trait count and its traits' size in bytes as JSON (`{}` is 2; members are comma-separated). */
export function traitSize(set: TraitSet): Size {
  let s = sizes.get(set);
  if (s === undefined) {
    const keys = Object.keys(set.traits);
    let bytes = 2 + Math.max(0, keys.length - 1);
    for (const k of keys) bytes += entryBytes(k, set.traits[k]);
    s = { count: keys.length, bytes };
    sizes.set(set, s);
  }
  return s;
}

/** What a change did: whether the set changed, and the keys a bound kept out. */
export interface TraitOutcome {
  changed: boolean;
  /** Keys not applied because the set holds `maxTraits` traits already. */
  tooMany: string[];
  /** Keys not applied because their value would take the set past `maxTraitsBytes`. */
  tooLarge: string[];
}

const none = (): TraitOutcome => ({ changed: false, tooMany: [], tooLarge: [] });

/** Sets one trait unless a bound says no. */
function bounded(set: TraitSet, key: string, value: unknown, t: number, b: StateBounds, out: TraitOutcome): void {
  const size = traitSize(set);
  const had = has(set.traits, key);
  const count = size.count + (had ? 0 : 1);
  const bytes = size.bytes - (had ? entryBytes(key, set.traits[key]) : 0) + entryBytes(key, value) + (had || size.count === 0 ? 0 : 1);
  if (!had && count > b.maxTraits) {
    out.tooMany.push(key);
    return;
  }
  if (bytes > b.maxTraitsBytes && bytes > size.bytes) {
    out.tooLarge.push(key);
    return;
  }
  put(set.traits, key, value);
  put(set.traitTs, key, t);
  size.count = count;
  size.bytes = bytes;
  out.changed = true;
}

/** Applies an event's traits at time `t`, within the bounds. */
export function applyTraits(set: TraitSet, traits: unknown, t: number, b: StateBounds = DEFAULT_BOUNDS): TraitOutcome {
  const out = none();
  if (typeof traits !== 'object' || traits === null || Array.isArray(traits)) return out;
  for (const key of Object.keys(traits)) {
    const before = set.traitTs[key];
    if (before !== undefined && t < before) continue;
    bounded(set, key, (traits as Record<string, unknown>)[key], t, b, out);
  }
  return out;
}

/** Merges `from` into `into`, trait by trait, the later timestamp winning, within the bounds. */
export function mergeTraits(into: TraitSet, from: TraitSet, b: StateBounds = DEFAULT_BOUNDS): TraitOutcome {
  const out = none();
  for (const key of Object.keys(from.traits)) {
    const t = from.traitTs[key] ?? 0;
    const mine = into.traitTs[key];
    if (mine !== undefined && mine > t) continue;
    bounded(into, key, from.traits[key], t, b, out);
  }
  return out;
}

/**
 * Brings a stored set that is past a bound back within it: the most recently set traits are kept
 * (ties: the earlier key), each as long as it fits; the rest are removed and reported.
 */
export function trimTraits(set: TraitSet, b: StateBounds = DEFAULT_BOUNDS): TraitOutcome {
  const out = none();
  const size = traitSize(set);
  if (size.count <= b.maxTraits && size.bytes <= b.maxTraitsBytes) return out;
  const keys = Object.keys(set.traits);
  const order = keys
    .map((k, i) => ({ k, i, t: set.traitTs[k] ?? 0, bytes: entryBytes(k, set.traits[k]) }))
    .sort((x, y) => y.t - x.t || x.i - y.i);
  const keep = new Set<string>();
  let count = 0;
  let bytes = 2;
  for (const e of order) {
    const next = bytes + e.bytes + (count > 0 ? 1 : 0);
    if (count + 1 > b.maxTraits) out.tooMany.push(e.k);
    else if (next > b.maxTraitsBytes) out.tooLarge.push(e.k);
    else {
      keep.add(e.k);
      count++;
      bytes = next;
    }
  }
  const traits = bag<unknown>();
  const traitTs = bag<number>();
  for (const k of keys) {
    if (!keep.has(k)) continue;
    put(traits, k, set.traits[k]);
    if (has(set.traitTs, k)) put(traitTs, k, set.traitTs[k]);
  }
  set.traits = traits;
  set.traitTs = traitTs;
  sizes.set(set, { count, bytes });
  out.changed = true;
  return out;
}

/** A few of the keys, quoted and cut, for a warning's detail. */
function someKeys(keys: readonly string[]): string {
  const shown = keys.slice(0, 5).map((k) => JSON.stringify(k.length > 64 ? `${k.slice(0, 64)}…` : k));
  return shown.join(', ') + (keys.length > 5 ? ` and ${keys.length - 5} more` : '');
}

/** The warnings a trait outcome makes: one per bound that kept something out. */
export function traitWarnings(o: TraitOutcome, messageId: string, subject: 'profile' | 'group', b: StateBounds, how: 'applied' | 'merged' | 'trimmed'): StateWarning[] {
  const out: StateWarning[] = [];
  const what = (keys: string[]) =>
    how === 'trimmed'
      ? `the stored ${subject} was past the bound: ${keys.length} trait(s) removed (${someKeys(keys)}), the most recently set kept`
      : `${keys.length} trait(s) ${how === 'merged' ? 'of the merged profile ' : ''}not applied (${someKeys(keys)})`;
  if (o.tooMany.length > 0) {
    out.push({ messageId, subject, kind: 'traits_too_many', detail: `${what(o.tooMany)}: at most ${b.maxTraits} traits per ${subject} (SOLUTE_MAX_TRAITS)` });
  }
  if (o.tooLarge.length > 0) {
    out.push({
      messageId,
      subject,
      kind: 'traits_too_large',
      detail: `${what(o.tooLarge)}: at most ${b.maxTraitsBytes} bytes of traits per ${subject} (SOLUTE_MAX_TRAITS_BYTES)`,
    });
  }
  return out;
}

/** Records a warning in a profile's or group's summary (one entry per kind: a count and the last one). */
export function noteWarning(summaries: WarningSummaries, w: StateWarning, t: number): void {
  const seen = summaries[w.kind];
  summaries[w.kind] = { count: (seen?.count ?? 0) + 1, lastMessageId: w.messageId, lastAt: t, detail: w.detail };
}

/** Adds `from`'s summaries to `into`'s (a merge): counts add up, the later one is kept as the last. */
export function mergeWarnings(into: WarningSummaries, from: WarningSummaries): void {
  for (const kind of Object.keys(from) as Array<keyof WarningSummaries>) {
    const a = into[kind];
    const b = from[kind]!;
    if (a === undefined) into[kind] = { ...b };
    else into[kind] = { ...(b.lastAt > a.lastAt ? b : a), count: a.count + b.count };
  }
}
