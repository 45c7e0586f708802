// The group step: `group` events of one project create or update the group (traits merged, the
// latest corrected timestamp winning per trait, within the trait bounds of traits.ts) and record the
// sender's membership. Pure.
import type { LogLine } from '../../contracts/log-line.js';
import type { GroupChanges, GroupRow, GroupState, StateBounds, StateWarning } from '../../contracts/profiles.js';
import type { StepOutcome } from '../../contracts/event-store.js';
import { DEFAULT_BOUNDS, applyTraits, bag, noteWarning, ownCopy, traitWarnings, trimTraits, type TraitOutcome } from './traits.js';

/** The group ids a batch's group events name. */
export function groupIds(lines: readonly LogLine[]): string[] {
  const ids = new Set<string>();
  for (const l of lines) if (l.y === 'group' && typeof l.e.groupId === 'string') ids.add(l.e.groupId);
  return [...ids];
}

export function resolveGroups(lines: readonly LogLine[], state: GroupState, bounds: StateBounds = DEFAULT_BOUNDS): StepOutcome<GroupChanges> {
  const groups = new Map<string, GroupRow>();
  const changed = new Set<string>();
  const members = new Map<string, { groupId: string; member: string; since: number }>();
  const warnings: StateWarning[] = [];
  const failed: StepOutcome<GroupChanges>['failed'] = [];
  const note = (g: GroupRow, o: TraitOutcome, line: LogLine, how: 'applied' | 'trimmed') => {
    if (o.changed) changed.add(g.groupId);
    for (const w of traitWarnings(o, line.m, 'group', bounds, how)) {
      warnings.push(w);
      noteWarning(g.warnings, w, line.t);
      changed.add(g.groupId);
    }
  };
  for (const line of lines) {
    if (line.y !== 'group') continue;
    try {
      const groupId = line.e.groupId;
      if (typeof groupId !== 'string') throw new Error('group without groupId');
      let g = groups.get(groupId);
      if (g === undefined) {
        const stored = state.groups.get(groupId);
        g = stored
          ? { groupId, traits: ownCopy(stored.traits), traitTs: ownCopy(stored.traitTs), warnings: { ...stored.warnings } }
          : { groupId, traits: bag(), traitTs: bag(), warnings: {} };
        groups.set(groupId, g);
        if (!stored) changed.add(groupId);
        else note(g, trimTraits(g, bounds), line, 'trimmed');
      }
      note(g, applyTraits(g, line.e.traits, line.t, bounds), line, 'applied');
      const member = line.u ?? line.a;
      if (member === null) throw new Error('group without userId or anonymousId');
      const key = JSON.stringify([groupId, member]);
      const seen = members.get(key);
      if (seen === undefined || line.t < seen.since) members.set(key, { groupId, member, since: line.t });
    } catch (err) {
      failed.push({ line, reason: (err as Error).message });
    }
  }
  return { changes: { groups: [...changed].map((id) => groups.get(id)!), members: [...members.values()], warnings }, failed };
}
