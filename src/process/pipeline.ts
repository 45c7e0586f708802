// The processing steps between the log and the store, in order:
//   parse    a log line → LogLine (a damaged line is a dead letter)
//   enrich…  per-event steps that change the event alone (client IP, user agent): EventStep
//   identity, groups   steps that need stored state: run by the store inside its transaction
// Each step is its own unit (process/steps/); a step that throws sends the event to the dead letters
// with the step's name and reason, and the rest of the batch goes on.
import { parseLine, readBulkLine, type LogLine } from '../contracts/log-line.js';
import type { BatchSteps, BulkEnrich, ContextAdditions, DeadLetterInput, ProcessedLine } from '../contracts/event-store.js';
import { groupIds, resolveGroups } from './steps/groups.js';
import { identityIds, resolveIdentity } from './steps/identity.js';
import { DEFAULT_BOUNDS } from './steps/traits.js';
import { createEnrich, type EnrichOptions } from './steps/enrich.js';
import type { StateBounds } from '../contracts/profiles.js';

export interface EventStep {
  name: string;
  run(line: LogLine): void;
}

/** The per-event steps, in order: enrichment (process/steps/enrich.ts). */
export function createEventSteps(opts: EnrichOptions): EventStep[] {
  const enrich = createEnrich(opts);
  return [{ name: 'enrich', run: (line) => enrich(line.e, line.i ?? null) }];
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

/**
 * A line the bulk rule covers, for a store that keeps enrichment beside the event: its head read, its
 * event left as text, and what the enrich step would append to its context as lookups (the client IP
 * is in the line in its stored form; the user agent parsed once per distinct one). null: the line
 * takes the per-event path.
 */
function bulkLine(raw: string, index: number, lookups: Pick<BulkEnrich, 'userAgent'>, last: LastAdditions): ProcessedLine | null {
  const b = readBulkLine(raw);
  if (b === null) return null;
  const ip = b.line.i ?? null;
  const g = b.line.g ?? null;
  // A request's lines share IP and, mostly, user agent: the same (frozen) additions, looked up once.
  if (last.added === null || last.ip !== ip || last.ua !== g) {
    const added: ContextAdditions = {};
    if (ip !== null) added.ip = ip;
    if (g !== null) {
      const ua = lookups.userAgent(g);
      if (ua.browser !== null) added.browser = ua.browser;
      if (ua.os !== null) added.os = ua.os;
      if (ua.device !== null) added.device = ua.device;
    }
    last.added = Object.freeze(added);
    last.ip = ip;
    last.ua = g;
  }
  return { index, raw, line: b.line, encoded: b.event, added: last.added };
}

interface LastAdditions {
  ip: string | null;
  ua: string | null;
  added: ContextAdditions | null;
}

/**
 * Parses and runs the per-event steps over a segment's lines; `encode`, when given, then sees each line
 * that passed. With `bulk` (only with the default steps: the lookups are the enrich step's own rule),
 * a line the bulk rule covers is not parsed (bulkLine).
 */
export function runEventSteps(
  segment: number,
  raws: readonly string[],
  steps: readonly EventStep[],
  firstIndex = 0,
  encode?: (line: ProcessedLine) => void,
  bulk?: Pick<BulkEnrich, 'userAgent'>,
) {
  const lines: ProcessedLine[] = [];
  const dead: DeadLetterInput[] = [];
  const last: LastAdditions = { ip: null, ua: null, added: null };
  for (let i = 0; i < raws.length; i++) {
    const raw = raws[i];
    const index = firstIndex + i;
    if (bulk !== undefined) {
      const pl = bulkLine(raw, index, bulk, last);
      if (pl !== null) {
        lines.push(pl);
        continue;
      }
    }
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
    if (failed) continue;
    const pl: ProcessedLine = { index, raw, line };
    if (encode) {
      try {
        encode(pl);
      } catch (err) {
        // The store cannot write this event (a value it cannot encode): only this line is set apart.
        dead.push({ segment, index, project: line.p, step: 'store', reason: (err as Error).message, raw });
        continue;
      }
    }
    lines.push(pl);
  }
  return { lines, dead };
}
