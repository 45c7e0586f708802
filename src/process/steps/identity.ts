// The identity step: `identify` and `alias` events of one project, in log order, against the current
// links and profiles of the ids they name. Pure: it returns the changes; the store applies them in
// the same transaction as the events.
//
// Rules (docs/api.md, "Profiles"):
// - identify with userId U: U's profile is identified as U (if it had no userId yet); traits merged.
// - identify with U and anonymousId A: A's profile is merged into U's.
// - identify with only A: traits go to A's (anonymous) profile.
// - alias previousId P → userId U: P's profile is merged into U's. alias identifies nobody.
// - A merge that would join two profiles identified as different userIds is refused (PostHog's rule)
//   and recorded as a warning; the event is still stored, and its traits go to U's profile.
// - Traits: per trait, the latest corrected timestamp wins, whatever the arrival order.
// - Bounds (traits.ts, and here the linked ids): a merge that would link more than `maxLinkedIds` ids
//   or `maxLinkedIdsBytes` bytes of ids to one profile is refused like the merge of two users; traits
//   past a bound are not applied. Each case is a warning, recorded with the event and on the profile.
import type { LogLine } from '../../contracts/log-line.js';
import type { IdentityChanges, IdentityState, ProfileRow, StateBounds, StateWarning } from '../../contracts/profiles.js';
import type { StepOutcome } from '../../contracts/event-store.js';
import { DEFAULT_BOUNDS, applyTraits, bag, mergeTraits, mergeWarnings, noteWarning, ownCopy, traitWarnings, trimTraits } from './traits.js';

export const IDENTITY_TYPES = new Set(['identify', 'alias']);

/** The ids a batch's identity events name (the state the step needs). */
export function identityIds(lines: readonly LogLine[]): string[] {
  const ids = new Set<string>();
  for (const l of lines) {
    if (!IDENTITY_TYPES.has(l.y)) continue;
    if (l.u !== null) ids.add(l.u);
    if (l.a !== null) ids.add(l.a);
    const prev = l.e.previousId;
    if (l.y === 'alias' && typeof prev === 'string') ids.add(prev);
  }
  return [...ids];
}

export function resolveIdentity(lines: readonly LogLine[], state: IdentityState, bounds: StateBounds = DEFAULT_BOUNDS): StepOutcome<IdentityChanges> {
  const links = new Map(state.links);
  const profiles = new Map<string, ProfileRow>();
  for (const [k, p] of state.profiles) {
    profiles.set(k, { ...p, traits: ownCopy(p.traits), traitTs: ownCopy(p.traitTs), warnings: { ...p.warnings } });
  }
  const changed = new Set<string>();
  const deleted = new Set<string>();
  const checked = new Set<string>(); // stored profiles already held against the trait bounds
  const newLinks = new Map<string, string>();
  const out: IdentityChanges = { profiles: [], deleted: [], repoints: [], links: [], warnings: [] };
  const failed: StepOutcome<IdentityChanges>['failed'] = [];

  const warn = (p: ProfileRow, w: StateWarning, line: LogLine) => {
    out.warnings.push(w);
    noteWarning(p.warnings, w, line.t);
    changed.add(p.profile);
  };

  const profileOf = (id: string, identified: boolean, line: LogLine): ProfileRow => {
    let key = links.get(id);
    if (key === undefined) {
      // A new id starts its own profile, keyed by the id (no profile can hold that key yet: the
      // key is only ever the first id of a profile, and that id stays linked forever).
      key = id;
      links.set(id, key);
      newLinks.set(id, key);
      profiles.set(key, { profile: key, userId: null, traits: bag(), traitTs: bag(), idCount: 1, idBytes: Buffer.byteLength(id, 'utf8'), warnings: {} });
      checked.add(key);
      changed.add(key);
    }
    const p = profiles.get(key);
    if (p === undefined) throw new Error(`identity state has a link to profile ${key} without the profile`);
    if (!checked.has(key)) {
      checked.add(key);
      const trimmed = trimTraits(p, bounds);
      if (trimmed.changed) {
        changed.add(key);
        for (const w of traitWarnings(trimmed, line.m, 'profile', bounds, 'trimmed')) warn(p, w, line);
      }
    }
    if (identified && p.userId === null) {
      p.userId = id;
      changed.add(key);
    }
    return p;
  };

  /** Merges b's profile into a's; null when refused (the warning is recorded on a). */
  const merge = (a: ProfileRow, b: ProfileRow, line: LogLine): ProfileRow | null => {
    if (a === b) return a;
    const refuse = (kind: StateWarning['kind'], detail: string) => {
      warn(a, { messageId: line.m, subject: 'profile', kind, detail }, line);
      return null;
    };
    if (a.userId !== null && b.userId !== null && a.userId !== b.userId) {
      return refuse('merge_refused', `would merge the profiles of two different identified users (${a.userId} and ${b.userId})`);
    }
    const idCount = a.idCount + b.idCount;
    const idBytes = a.idBytes + b.idBytes;
    if (idCount > bounds.maxLinkedIds) {
      return refuse(
        'linked_ids_too_many',
        `would link ${b.idCount} more id(s) to a profile of ${a.idCount}: at most ${bounds.maxLinkedIds} ids per profile (SOLUTE_MAX_LINKED_IDS); the profiles stay apart`,
      );
    }
    if (idBytes > bounds.maxLinkedIdsBytes) {
      return refuse(
        'linked_ids_too_large',
        `would link ${b.idBytes} more bytes of ids to a profile of ${a.idBytes}: at most ${bounds.maxLinkedIdsBytes} bytes of ids per profile (SOLUTE_MAX_LINKED_IDS_BYTES); the profiles stay apart`,
      );
    }
    // The identified one survives, so its key (and the links to it) stay put.
    const [into, from] = a.userId === null && b.userId !== null ? [b, a] : [a, b];
    const traits = mergeTraits(into, from, bounds);
    into.idCount = idCount;
    into.idBytes = idBytes;
    mergeWarnings(into.warnings, from.warnings);
    for (const [id, key] of links) if (key === from.profile) links.set(id, into.profile);
    for (const [id, key] of newLinks) if (key === from.profile) newLinks.set(id, into.profile);
    profiles.delete(from.profile);
    changed.delete(from.profile);
    if (state.profiles.has(from.profile)) deleted.add(from.profile); // a stored row; one made in this batch was never written
    out.repoints.push({ from: from.profile, to: into.profile });
    changed.add(into.profile);
    for (const w of traitWarnings(traits, line.m, 'profile', bounds, 'merged')) warn(into, w, line);
    return into;
  };

  for (const line of lines) {
    if (!IDENTITY_TYPES.has(line.y)) continue;
    try {
      if (line.y === 'identify') {
        let target: ProfileRow;
        if (line.u !== null) {
          target = profileOf(line.u, true, line);
          if (line.a !== null) target = merge(target, profileOf(line.a, false, line), line) ?? target;
        } else if (line.a !== null) {
          target = profileOf(line.a, false, line);
        } else {
          throw new Error('identify without userId or anonymousId');
        }
        const traits = applyTraits(target, line.e.traits, line.t, bounds);
        if (traits.changed) changed.add(target.profile);
        for (const w of traitWarnings(traits, line.m, 'profile', bounds, 'applied')) warn(target, w, line);
      } else {
        const prev = line.e.previousId;
        if (line.u === null || typeof prev !== 'string') throw new Error('alias without userId and previousId');
        merge(profileOf(line.u, false, line), profileOf(prev, false, line), line);
      }
    } catch (err) {
      failed.push({ line, reason: (err as Error).message });
    }
  }

  out.profiles = [...changed].map((k) => profiles.get(k)!).filter(Boolean);
  out.deleted = [...deleted];
  out.links = [...newLinks].map(([id, profile]) => ({ id, profile }));
  return { changes: out, failed };
}
