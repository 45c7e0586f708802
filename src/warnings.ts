// The catalog of warnings: what the processor records when a profile or group does not take all of
// an event (after the acknowledgement, so never an answer to a request). Each code has a row in
// docs/errors.md ("Warnings"); test/warnings-catalog.test.ts keeps the two in step.
import type { StateWarningKind, WarningSummaries } from './contracts/profiles.js';

type Entry = { kind: StateWarningKind; /** The label of solute_state_bounds_applied_total, or null when not a bound. */ bound: string | null };

export const WARNINGS = {
  SOL_WARN_IDENTITY_MERGE_REFUSED: { kind: 'merge_refused', bound: null },
  SOL_WARN_TRAITS_TOO_MANY: { kind: 'traits_too_many', bound: 'traits' },
  SOL_WARN_TRAITS_TOO_LARGE: { kind: 'traits_too_large', bound: 'traits_bytes' },
  SOL_WARN_LINKED_IDS_TOO_MANY: { kind: 'linked_ids_too_many', bound: 'linked_ids' },
  SOL_WARN_LINKED_IDS_TOO_LARGE: { kind: 'linked_ids_too_large', bound: 'linked_ids_bytes' },
} as const satisfies Record<string, Entry>;

export type WarningCode = keyof typeof WARNINGS;

const BY_KIND = new Map<StateWarningKind, WarningCode>(Object.entries(WARNINGS).map(([code, e]) => [e.kind, code as WarningCode]));

export function warningCode(kind: StateWarningKind): WarningCode {
  return BY_KIND.get(kind)!;
}

/** The bound a warning kind stands for (a label value), or null for a refused merge. */
export function warningBound(kind: StateWarningKind): string | null {
  return WARNINGS[warningCode(kind)].bound;
}

/** A profile's or group's warning summaries as the API shows them: by code, in catalog order. */
export function warningList(summaries: WarningSummaries): Array<{ code: WarningCode; count: number; lastMessageId: string; lastTimestamp: string | null; detail: string }> {
  const out = [];
  for (const [code, e] of Object.entries(WARNINGS) as Array<[WarningCode, Entry]>) {
    const s = summaries[e.kind];
    if (s === undefined) continue;
    const at = new Date(s.lastAt);
    out.push({ code, count: s.count, lastMessageId: s.lastMessageId, lastTimestamp: Number.isNaN(at.getTime()) ? null : at.toISOString(), detail: s.detail });
  }
  return out;
}
