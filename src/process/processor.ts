// Moves closed log segments into the store, in order, after the acknowledgement and off the HTTP path.
// Per segment: (1) persist its dedupe keys, (2) run the steps (pipeline.ts) and commit the result to
// the store together with the segment's id, (3) delete the segment file. A crash between any two
// steps repeats work but never loses or doubles an event: keys are a set, the steps are pure, and
// the store skips a segment id it has committed.
import fs from 'node:fs/promises';
import type { Logger } from 'pino';
import type { ClosedSegment } from '../contracts/event-log.js';
import type { DeadLetter, EventStore, LoadResult, ProcessedLine, ReplayResult } from '../contracts/event-store.js';
import { BATCH_STEPS, runEventSteps, type EventStep } from './pipeline.js';

export interface ProcessorDeps {
  store: EventStore;
  persistKeys: (keys: Uint32Array, days: Uint16Array, count: number) => Promise<void>;
  logger: Logger;
  /** The per-event steps, in order (enrichment). */
  steps?: readonly EventStep[];
  onLoaded?: (segment: ClosedSegment, result: LoadResult, seconds: number) => void;
}

const MAX_BACKOFF_MS = 30_000;

export class Processor {
  private readonly queue: ClosedSegment[] = [];
  private queued = 0;
  private loop: Promise<void> | null = null;
  private stopped = false;
  private idleWaiters: Array<() => void> = [];
  private failures = 0;
  private writing: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: ProcessorDeps) {}

  /** Events handed over and not yet stored. */
  get backlog(): number {
    return this.queued;
  }

  /** True unless stopped or failing repeatedly. */
  get running(): boolean {
    return !this.stopped && this.failures < 3;
  }

  enqueue(segment: ClosedSegment): void {
    this.queue.push(segment);
    this.queued += segment.count;
    this.kick();
  }

  /** Resolves when everything enqueued so far is stored. */
  drained(): Promise<void> {
    if (this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Finishes the queue (bounded by the caller's deadline) and stops. */
  async stop(): Promise<void> {
    await this.drained();
    this.stopped = true;
    await this.loop;
  }

  private kick(): void {
    if (this.loop || this.stopped) return;
    this.loop = this.run().finally(() => {
      this.loop = null;
      if (this.queue.length > 0 && !this.stopped) this.kick();
    });
  }

  /** The store has one writer connection: a segment load and a replay never interleave. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.writing.then(fn);
    this.writing = next.catch(() => undefined);
    return next;
  }

  private async load(segment: ClosedSegment): Promise<LoadResult> {
    const text = await fs.readFile(segment.file, 'utf8');
    const raws = text.split('\n');
    if (raws.at(-1) === '') raws.pop();
    const { lines, dead } = runEventSteps(segment.id, raws, this.deps.steps ?? []);
    return this.deps.store.commitBatch({ segment: segment.id, lines, deadLetters: dead }, BATCH_STEPS);
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

  private async run(): Promise<void> {
    while (this.queue.length > 0) {
      const segment = this.queue[0];
      const started = process.hrtime.bigint();
      try {
        await this.deps.persistKeys(segment.keys, segment.days, segment.days.length);
        const result = await this.exclusive(() => this.load(segment));
        await fs.rm(segment.file, { force: true });
        this.queue.shift();
        this.queued -= segment.count;
        this.failures = 0;
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        if (result.deadLettered > 0) {
          this.deps.logger.warn({ segment: segment.id, deadLetters: result.deadLettered }, 'segment had events that could not be stored; see dead letters');
        }
        this.deps.onLoaded?.(segment, result, seconds);
      } catch (err) {
        this.failures++;
        const wait = Math.min(MAX_BACKOFF_MS, 100 * 2 ** this.failures);
        this.deps.logger.error({ err, segment: segment.id, retryInMs: wait }, 'segment load failed; will retry');
        await new Promise((r) => setTimeout(r, wait));
      }
    }
    for (const w of this.idleWaiters.splice(0)) w();
  }
}
