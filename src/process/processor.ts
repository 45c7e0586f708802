// Moves closed log segments into the store, in order, after the acknowledgement and off the HTTP path.
// Per segment: (1) persist its dedupe keys, (2) run the steps (pipeline.ts) and commit the result to
// the store together with the segment's id, (3) delete the segment file. A crash between any two
// steps repeats work but never loses or doubles an event: keys are a set, the steps are pure, and
// the store skips a segment id it has committed.
import fs from 'node:fs/promises';
import type { Logger } from 'pino';
import type { ClosedSegment } from '../contracts/event-log.js';
import type { BatchSteps, BulkEnrich, DeadLetter, EventStore, LoadResult, ReplayResult, SegmentFileLoader } from '../contracts/event-store.js';
import type { EventStep } from './pipeline.js';
import { BatchLoader } from './batch-loader.js';
import { Tally } from '../lib/tally.js';

export interface ProcessorDeps {
  store: EventStore;
  persistKeys: (keys: Uint32Array, days: Uint16Array, count: number, projects: readonly string[]) => Promise<void>;
  logger: Logger;
  /** The per-event steps, in order (enrichment). */
  steps?: readonly EventStep[];
  /** The stateful steps with the configured bounds (createBatchSteps); default: the default bounds. */
  batchSteps?: BatchSteps;
  /** A store that loads segment files itself, and the per-event steps as lookups for it (both or neither). */
  fileLoader?: SegmentFileLoader;
  bulkEnrich?: Pick<BulkEnrich, 'userAgent'>;
  onLoaded?: (segment: ClosedSegment, result: LoadResult, seconds: number) => void;
}

const MAX_BACKOFF_MS = 30_000;

export class Processor {
  private readonly queue: ClosedSegment[] = [];
  private queued = 0;
  /** queued, per project. */
  private readonly queuedByProject = new Tally<string>();
  private loop: Promise<void> | null = null;
  private stopped = false;
  private idleWaiters: Array<() => void> = [];
  private failures = 0;
  private readonly loader: BatchLoader;

  constructor(private readonly deps: ProcessorDeps) {
    this.loader = new BatchLoader(deps);
  }

  /** Events handed over and not yet stored. */
  get backlog(): number {
    return this.queued;
  }

  /** Events of one project handed over and not yet stored. */
  backlogOf(project: string): number {
    return this.queuedByProject.get(project);
  }

  /** True unless stopped or failing repeatedly. */
  get running(): boolean {
    return !this.stopped && this.failures < 3;
  }

  enqueue(segment: ClosedSegment): void {
    this.queue.push(segment);
    this.queued += segment.count;
    for (const [p, n] of segment.eventsByProject) this.queuedByProject.add(p, n);
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

  private async load(segment: ClosedSegment): Promise<LoadResult> {
    // The store's own bulk path when it has one (DuckDB reads the file natively); the per-event path
    // otherwise, and also when the bulk path throws (a lookup that fails on one line's user agent, say):
    // there each line's failure is that line's, and a batch that keeps failing is isolated (BatchLoader).
    const bulk =
      this.deps.fileLoader && this.deps.bulkEnrich
        ? await this.loader.loadFile(this.deps.fileLoader, segment, this.deps.bulkEnrich).catch((err: unknown) => {
            this.deps.logger.warn({ err, segment: segment.id }, 'bulk load failed; storing the segment event by event');
            return null;
          })
        : null;
    return bulk ?? this.loader.load(segment.id, await fs.readFile(segment.file, 'utf8'));
  }

  /** Runs dead letters through the steps again (see BatchLoader.replay). */
  replay(deadLetters: readonly DeadLetter[]): Promise<ReplayResult> {
    return this.loader.replay(deadLetters);
  }

  private async run(): Promise<void> {
    while (this.queue.length > 0) {
      const segment = this.queue[0];
      const started = process.hrtime.bigint();
      try {
        await this.deps.persistKeys(segment.keys, segment.days, segment.days.length, segment.projects);
        const result = await this.load(segment);
        await fs.rm(segment.file, { force: true });
        this.queue.shift();
        this.queued -= segment.count;
        for (const [p, n] of segment.eventsByProject) this.queuedByProject.add(p, -n);
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
