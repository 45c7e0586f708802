// What both stores do around the stateful steps (identity, groups): pick out, per project, the lines
// those steps read, and afterwards set apart the lines a step could not handle as dead letters.
import type { LogLine } from '../contracts/log-line.js';
import type { DeadLetterInput, LoadResult, ProcessedLine } from '../contracts/event-store.js';
import type { StateWarning } from '../contracts/profiles.js';

/** True for the types the stateful steps (identity, groups) read: identify, alias and group. */
export function isStatefulType(y: string): boolean {
  return y === 'identify' || y === 'alias' || y === 'group';
}

/** The identify, alias and group lines of a batch, by project, in batch order. */
export function statefulLinesByProject(lines: readonly ProcessedLine[]): Map<string, ProcessedLine[]> {
  const byProject = new Map<string, ProcessedLine[]>();
  for (const pl of lines) {
    if (!isStatefulType(pl.line.y)) continue;
    const list = byProject.get(pl.line.p);
    if (list) list.push(pl);
    else byProject.set(pl.line.p, [pl]);
  }
  return byProject;
}

/** The lines to store, and a dead letter for each line a step failed on (with that step and reason). */
export function setApartFailed(
  segment: number,
  lines: ProcessedLine[],
  failed: ReadonlyMap<LogLine, { step: string; reason: string }>,
): { keep: ProcessedLine[]; dead: DeadLetterInput[] } {
  if (failed.size === 0) return { keep: lines, dead: [] };
  const keep: ProcessedLine[] = [];
  const dead: DeadLetterInput[] = [];
  for (const pl of lines) {
    const f = failed.get(pl.line);
    if (f) dead.push({ segment: pl.segment ?? segment, index: pl.index, project: pl.line.p, step: f.step, reason: f.reason, raw: pl.raw });
    else keep.push(pl);
  }
  return { keep, dead };
}

/** A load result with the stateful steps' warnings, when there are any. */
export function withWarnings(r: LoadResult, warnings: readonly StateWarning[]): LoadResult {
  return warnings.length > 0 ? { ...r, warnings: [...warnings] } : r;
}
