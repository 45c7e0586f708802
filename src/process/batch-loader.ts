// One batch of log lines (an embedded segment, or a JetStream message) through the steps into the
// store, and dead letters back through them. Shared by the embedded processor and the JetStream one.
import type { Logger } from 'pino';
import type { BulkEnrich, DeadLetter, DeadLetterInput, EventStore, LoadResult, ProcessedLine, ReplayResult, SegmentFileLoader } from '../contracts/event-store.js';
import { BATCH_STEPS, runEventSteps, type EventStep } from './pipeline.js';

export interface BatchLoaderDeps {
  store: EventStore;
  logger: Logger;
  /** The per-event steps, in order (enrichment). */
  steps?: readonly EventStep[];
}

export class BatchLoader {
  private writing: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: BatchLoaderDeps) {}

  /** Stores the NDJSON lines of batch `id` (of log `source`) once: a batch already committed is a no-op. */
  load(id: number, text: string, source?: string): Promise<LoadResult> {
    const raws = text.split('\n');
    if (raws.at(-1) === '') raws.pop();
    const { lines, dead } = runEventSteps(id, raws, this.deps.steps ?? []);
    return this.exclusive(() => this.deps.store.commitBatch({ segment: id, source, lines, deadLetters: dead }, BATCH_STEPS));
  }

  /** A segment through a store's bulk path; null when the store cannot read it in bulk. */
  loadFile(store: SegmentFileLoader, segment: { id: number; file: string }, lookups: Pick<BulkEnrich, 'userAgent' | 'clientIp'>): Promise<LoadResult | null> {
    const enrich: BulkEnrich = {
      ...lookups,
      perEvent: (segmentId, raws, indexes) => {
        const lines: ProcessedLine[] = [];
        const dead: DeadLetterInput[] = [];
        raws.forEach((raw, k) => {
          const r = runEventSteps(segmentId, [raw], this.deps.steps ?? [], indexes[k]);
          lines.push(...r.lines);
          dead.push(...r.dead);
        });
        return { lines, dead };
      },
    };
    return this.exclusive(() => store.loadSegmentFile(segment, enrich, BATCH_STEPS));
  }

  /**
   * Runs dead letters through the steps again and stores those that pass (removing them from the
   * dead letters in the same transaction); the others stay, with the new reason.
   */
  async replay(deadLetters: readonly DeadLetter[]): Promise<ReplayResult> {
    const lines: Array<ProcessedLine & { deadLetterId: number }> = [];
    const failed: Array<{ deadLetterId: number; step: string; reason: string }> = [];
    for (const d of deadLetters) {
      const r = runEventSteps(d.segment, [d.raw], this.deps.steps ?? [], d.index);
      if (r.lines.length === 1) lines.push({ ...r.lines[0], deadLetterId: d.id });
      else failed.push({ deadLetterId: d.id, step: r.dead[0].step, reason: r.dead[0].reason });
    }
    const result = await this.exclusive(() => this.deps.store.commitReplay(lines, failed, BATCH_STEPS));
    this.deps.logger.info({ asked: deadLetters.length, ...result }, 'dead letters replayed');
    return result;
  }

  /** The embedded store has one writer connection: a load and a replay never interleave. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.writing.then(fn);
    this.writing = next.catch(() => undefined);
    return next;
  }
}
