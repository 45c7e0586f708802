// The processing steps between the log and the store, in order:
//   parse    a log line → LogLine (a damaged line is a dead letter)
//   enrich…  per-event steps that change the event alone (client IP, user agent): EventStep
//   identity, groups   steps that need stored state: run by the store inside its transaction
// Each step is its own unit (process/steps/); a step that throws sends the event to the dead letters
// with the step's name and reason, and the rest of the batch goes on.
import type { LogLine } from '../contracts/event-log.js';
import type { BatchSteps, DeadLetterInput, ProcessedLine } from '../contracts/event-store.js';
import { mayHoldLoneSurrogate, wellFormed } from '../lib/well-formed.js';
import { groupIds, resolveGroups } from './steps/groups.js';
import { identityIds, resolveIdentity } from './steps/identity.js';
import { DEFAULT_BOUNDS } from './steps/traits.js';
import type { StateBounds } from '../contracts/profiles.js';

export interface EventStep {
  name: string;
  run(line: LogLine): void;
}

/** The stateful steps, with the state bounds (SOLUTE_MAX_TRAITS and the others, docs/configuration.md). */
export function createBatchSteps(bounds: StateBounds): BatchSteps {
  const b: StateBounds = {
    maxTraits: bounds.maxTraits,
    maxTraitsBytes: bounds.maxTraitsBytes,
    maxLinkedIds: bounds.maxLinkedIds,
    maxLinkedIdsBytes: bounds.maxLinkedIdsBytes,
  };
  return {
    identity: { ids: identityIds, resolve: (lines, state) => resolveIdentity(lines, state, b) },
    groups: { ids: groupIds, resolve: (lines, state) => resolveGroups(lines, state, b) },
  };
}

/** The stateful steps with the default bounds. */
export const BATCH_STEPS: BatchSteps = createBatchSteps(DEFAULT_BOUNDS);

/** What makes a parsed line unfit for the store, or null. */
function malformed(l: LogLine): string | null {
  if (typeof l !== 'object' || l === null || Array.isArray(l)) return 'not an object';
  if (typeof l.p !== 'string' || typeof l.y !== 'string' || typeof l.m !== 'string') return 'p, y and m must be strings';
  if (!Number.isSafeInteger(l.s) || !Number.isSafeInteger(l.t)) return 's and t must be integers';
  if (typeof l.e !== 'object' || l.e === null || Array.isArray(l.e)) return 'e must be an object';
  for (const k of ['n', 'u', 'a'] as const) if (l[k] !== null && l[k] !== undefined && typeof l[k] !== 'string') return `${k} must be a string or null`;
  return null;
}

export function parseLine(raw: string): LogLine {
  let l = JSON.parse(raw) as LogLine;
  const problem = malformed(l);
  if (problem) throw new Error(`malformed log line: ${problem}`);
  l.n ??= null;
  l.u ??= null;
  l.a ??= null;
  // DuckDB refuses lone UTF-16 surrogates, which JSON allows: the edge stores U+FFFD in their place;
  // lines written before it did are mended here.
  if (mayHoldLoneSurrogate(raw)) l = wellFormed(l) as LogLine;
  return l;
}

/** Parses and runs the per-event steps over a segment's lines. */
export function runEventSteps(segment: number, raws: readonly string[], steps: readonly EventStep[], firstIndex = 0) {
  const lines: ProcessedLine[] = [];
  const dead: DeadLetterInput[] = [];
  for (let i = 0; i < raws.length; i++) {
    const raw = raws[i];
    const index = firstIndex + i;
    let line: LogLine;
    try {
      line = parseLine(raw);
    } catch (err) {
      dead.push({ segment, index, project: null, step: 'parse', reason: (err as Error).message, raw });
      continue;
    }
    let failed = false;
    for (const step of steps) {
      try {
        step.run(line);
      } catch (err) {
        dead.push({ segment, index, project: line.p, step: step.name, reason: (err as Error).message, raw });
        failed = true;
        break;
      }
    }
    if (!failed) lines.push({ index, raw, line });
  }
  return { lines, dead };
}
