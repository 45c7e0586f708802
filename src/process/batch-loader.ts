// One batch of log lines (an embedded segment, or a JetStream message) through the steps into the
// store, and dead letters back through them. Shared by the embedded processor and the JetStream one.
//
// A poisoned line cannot stall the processor: a batch whose commit fails `isolateAfter` times in a
// row (3) is searched for the lines that make it fail, with trial commits that are rolled back
// (EventStore.commitBatch with dryRun), by bisection: the lines kept so far plus the next part; a part
// that fails is split, and a single line that fails is poisoned. Then the batch is committed once, as
// always keyed by its id: the other lines stored, each poisoned line a dead letter with the step it
// failed in and the error. What is not a line's fault keeps the batch retrying instead:
// - the batch without any line (its earlier dead letters, its once-only record) must commit in trial,
//   else the store itself is failing (down, disk full);
// - in a batch of more than one line, when every line fails alone, the cause is not a line;
// - each poisoned line must fail again in a last trial, else the failure came and went meanwhile.
import type { Logger } from 'pino';
import type {
  BatchSteps,
  BulkEnrich,
  DeadLetter,
  DeadLetterInput,
  EventStore,
  LoadResult,
  ProcessedLine,
  ReplayResult,
  SegmentFileLoader,
  StoreBatch,
} from '../contracts/event-store.js';
import { stepOf } from '../lib/step-error.js';
import { warningCode } from '../warnings.js';
import { BATCH_STEPS, runEventSteps, type EventStep } from './pipeline.js';

export interface BatchLoaderDeps {
  store: EventStore;
  logger: Logger;
  /** The per-event steps, in order (enrichment). */
  steps?: readonly EventStep[];
  /** The stateful steps with the configured bounds (createBatchSteps); default: the default bounds. */
  batchSteps?: BatchSteps;
  /**
   * The enrich step as lookups (createBulkEnrich), given only with the default steps: a store that
   * keeps enrichment beside the event (PostgreSQL) then gets the bulk-rule lines unparsed.
   */
  bulkEnrich?: Pick<BulkEnrich, 'userAgent'>;
  /** Failures in a row of one batch after which its poisoned lines are looked for (default 3). */
  isolateAfter?: number;
}

const ISOLATE_AFTER = 3;
/** Batches whose failures are counted at once (one per message in flight, in a cluster; forgotten oldest first). */
const MAX_TRACKED = 1000;
const MAX_REASON = 2000;

export class BatchLoader {
  private writing: Promise<unknown> = Promise.resolve();
  private readonly failures = new Map<string, number>();
  private readonly batchSteps: BatchSteps;

  constructor(private readonly deps: BatchLoaderDeps) {
    this.batchSteps = deps.batchSteps ?? BATCH_STEPS;
  }

  /** Stores the NDJSON lines of batch `id` (of log `source`) once: a batch already committed is a no-op. */
  load(id: number, text: string, source?: string): Promise<LoadResult> {
    return this.commitOne(this.prepare(id, text, source));
  }

  private commitOne(batch: StoreBatch): Promise<LoadResult> {
    return this.exclusive(async () => this.reported(batch.segment, await this.commit(batch)));
  }

  /** The batch's lines through the per-event steps. */
  private prepare(id: number, text: string, source?: string): StoreBatch {
    const raws = text.split('\n');
    if (raws.at(-1) === '') raws.pop();
    const store = this.deps.store;
    const bulk = store.keepsEnrichmentBeside ? this.deps.bulkEnrich : undefined;
    const { lines, dead } = runEventSteps(id, raws, this.deps.steps ?? [], 0, store.encodeLine && ((pl) => store.encodeLine!(pl)), bulk);
    return { segment: id, source, lines, deadLetters: dead };
  }

  /**
   * Several batches of one log, in one transaction when the store offers it (commitBatches). When that
   * fails, each batch is committed on its own, with the poisoned-line search of load(); returns the ids
   * of the batches that failed even so (to be retried), beside what was stored.
   */
  async loadMany(batches: ReadonlyArray<{ id: number; text: string }>, source?: string): Promise<{ result: LoadResult; failed: number[] }> {
    const store = this.deps.store;
    const group = batches.map((b) => this.prepare(b.id, b.text, source));
    if (group.length > 1 && store.commitBatches) {
      try {
        const r = await this.exclusive(() => store.commitBatches!(group, this.batchSteps));
        return { result: this.reported(batches[0].id, r), failed: [] };
      } catch (err) {
        this.deps.logger.warn({ err, batches: batches.length, first: batches[0].id }, 'group commit failed; committing its batches one by one');
      }
    }
    // The same prepared lines again, as the poisoned-line search's trial commits reuse them.
    const result: LoadResult = { stored: 0, deadLettered: 0 };
    const failed: number[] = [];
    for (const b of group) {
      try {
        const r = await this.commitOne(b);
        result.stored += r.stored;
        result.deadLettered += r.deadLettered;
      } catch (err) {
        this.deps.logger.error({ err, batch: b.segment }, 'log batch failed');
        failed.push(b.segment);
      }
    }
    return { result, failed };
  }

  /** Segments through a store's bulk path, in one transaction; null when the store cannot read them in bulk. */
  loadFiles(store: SegmentFileLoader, segments: ReadonlyArray<{ id: number; file: string }>, lookups: Pick<BulkEnrich, 'userAgent'>): Promise<LoadResult | null> {
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
    return this.exclusive(async () => {
      const r = await store.loadSegmentFiles(segments, enrich, this.batchSteps);
      return r && this.reported(segments[0].id, r);
    });
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
    const result = await this.exclusive(() => this.deps.store.commitReplay(lines, failed, this.batchSteps));
    this.deps.logger.info({ asked: deadLetters.length, ...result }, 'dead letters replayed');
    return result;
  }

  /** Commits the batch; after `isolateAfter` failures in a row, without its poisoned lines (see the top of this file). */
  private async commit(batch: StoreBatch): Promise<LoadResult> {
    const key = `${batch.source ?? ''}:${batch.segment}`;
    try {
      const r = await this.deps.store.commitBatch(batch, this.batchSteps);
      this.failures.delete(key);
      return r;
    } catch (err) {
      const n = (this.failures.get(key) ?? 0) + 1;
      this.failures.delete(key);
      this.failures.set(key, n);
      if (this.failures.size > MAX_TRACKED) this.failures.delete(this.failures.keys().next().value!);
      if (n < (this.deps.isolateAfter ?? ISOLATE_AFTER)) throw err;
      const isolated = await this.isolate(batch);
      if (isolated === null) {
        this.deps.logger.error({ err, batch: batch.segment, failures: n }, 'batch keeps failing, and not because of one of its lines; will retry');
        throw err;
      }
      const r = await this.deps.store.commitBatch(isolated.batch, this.batchSteps);
      this.failures.delete(key);
      if (isolated.poisoned.length > 0) {
        this.deps.logger.warn(
          { batch: batch.segment, failures: n, poisoned: isolated.poisoned.map((d) => ({ line: d.index, step: d.step, reason: d.reason })) },
          'batch failed repeatedly because of some of its lines: those went to the dead letters, the rest was stored',
        );
      }
      return r;
    }
  }

  /** The batch without its poisoned lines (they become dead letters), or null when the cause is not a line. */
  private async isolate(batch: StoreBatch): Promise<{ batch: StoreBatch; poisoned: DeadLetterInput[] } | null> {
    const trial = async (lines: ProcessedLine[]): Promise<unknown> => {
      try {
        await this.deps.store.commitBatch({ ...batch, lines }, this.batchSteps, { dryRun: true });
        return null;
      } catch (err) {
        return err ?? new Error('commit failed');
      }
    };
    if ((await trial([])) !== null) return null;
    const poisoned = new Map<ProcessedLine, unknown>();
    /** The lines of `part` that can join `kept` (which commits), in order; the others are poisoned. */
    const keepOf = async (kept: ProcessedLine[], part: ProcessedLine[]): Promise<ProcessedLine[]> => {
      const err = await trial([...kept, ...part]);
      if (err === null) return part;
      if (part.length === 1) {
        poisoned.set(part[0], err);
        return [];
      }
      const mid = part.length >> 1;
      const first = await keepOf(kept, part.slice(0, mid));
      const second = await keepOf([...kept, ...first], part.slice(mid));
      return [...first, ...second];
    };
    const keep = await keepOf([], batch.lines);
    if (poisoned.size === 0) return { batch, poisoned: [] }; // it commits now: what failed was passing
    if (keep.length === 0 && batch.lines.length > 1) return null;
    const kept = new Set(keep);
    for (const line of poisoned.keys()) {
      if ((await trial(batch.lines.filter((l) => l === line || kept.has(l)))) === null) return null;
    }
    const dead: DeadLetterInput[] = [];
    for (const [pl, err] of poisoned) {
      const reason = err instanceof Error ? err.message : String(err);
      dead.push({
        segment: batch.segment,
        index: pl.index,
        project: pl.line.p,
        step: stepOf(err),
        reason: reason.length > MAX_REASON ? `${reason.slice(0, MAX_REASON)}…` : reason,
        raw: pl.raw,
      });
    }
    return { batch: { ...batch, lines: keep, deadLetters: [...batch.deadLetters, ...dead] }, poisoned: dead };
  }

  /** Logs a batch's warnings (refused merges, bounds applied), one line per batch. */
  private reported(batch: number, r: LoadResult): LoadResult {
    if (r.warnings && r.warnings.length > 0) {
      const byCode: Record<string, number> = {};
      for (const w of r.warnings) byCode[warningCode(w.kind)] = (byCode[warningCode(w.kind)] ?? 0) + 1;
      const last = r.warnings.at(-1)!;
      this.deps.logger.warn(
        { batch, warnings: byCode, example: { code: warningCode(last.kind), messageId: last.messageId, detail: last.detail } },
        'some events were stored but not applied in full to their profile or group (merges refused, bounds applied)',
      );
    }
    return r;
  }

  /**
   * The embedded store has one writer connection: a load and a replay never interleave. A store whose
   * commits may run at once (PostgreSQL: transactions, per-project locks) gets them at once.
   */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.deps.store.concurrentCommits) return fn();
    const next = this.writing.then(fn);
    this.writing = next.catch(() => undefined);
    return next;
  }
}
