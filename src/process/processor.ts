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
import { readWholeFile } from '../lib/read-whole.js';

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
  onLoaded?: (segments: readonly ClosedSegment[], result: LoadResult, seconds: number) => void;
  /**
   * With a store that loads files itself: how many queued events one load may take, whole segments
   * (at least one; default 131072, about one DuckDB row group). A backlog is stored in few, large
   * transactions; a segment alone when there is no backlog.
   */
  groupEvents?: number;
}

const GROUP_EVENTS = 131_072;

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

  /** The segments at the head of the queue that one load takes. */
  private nextGroup(): ClosedSegment[] {
    if (!this.deps.fileLoader) return [this.queue[0]];
    const limit = this.deps.groupEvents ?? GROUP_EVENTS;
    const group = [this.queue[0]];
    let events = this.queue[0].count;
    for (let i = 1; i < this.queue.length && events + this.queue[i].count <= limit; i++) {
      group.push(this.queue[i]);
      events += this.queue[i].count;
    }
    return group;
  }

  private async load(group: ClosedSegment[]): Promise<LoadResult> {
    // The store's own bulk path when it has one (DuckDB reads the files natively); the per-event path
    // otherwise, segment by segment, and also when the bulk path throws (a lookup that fails on one
    // line's user agent, say): there each line's failure is that line's, and a batch that keeps failing
    // is isolated (BatchLoader). A group that does not load in bulk is tried one segment at a time.
    const whole = await this.loadInBulk(group);
    if (whole) return whole;
    if (group.length > 1 && this.deps.fileLoader) this.deps.logger.warn({ segments: group.map((g) => g.id) }, 'segments not read in bulk; storing them one by one');
    const total: LoadResult = { stored: 0, deadLettered: 0 };
    for (const segment of group) {
      const r = (group.length > 1 ? await this.loadInBulk([segment]) : null) ?? (await this.loader.load(segment.id, (await readWholeFile(segment.file)).toString('utf8')));
      total.stored += r.stored;
      total.deadLettered += r.deadLettered;
      if (r.warnings) (total.warnings ??= []).push(...r.warnings);
    }
    return total;
  }

  /** The segments through the store's bulk path; null without one, or when it cannot read them or throws. */
  private async loadInBulk(segments: ClosedSegment[]): Promise<LoadResult | null> {
    const { fileLoader, bulkEnrich } = this.deps;
    if (!fileLoader || !bulkEnrich) return null;
    return this.loader.loadFiles(fileLoader, segments, bulkEnrich).catch((err: unknown) => {
      this.deps.logger.warn({ err, segments: segments.map((g) => g.id) }, 'bulk load failed; storing the segments event by event');
      return null;
    });
  }

  /** Runs dead letters through the steps again (see BatchLoader.replay). */
  replay(deadLetters: readonly DeadLetter[]): Promise<ReplayResult> {
    return this.loader.replay(deadLetters);
  }

  private async run(): Promise<void> {
    while (this.queue.length > 0) {
      const group = this.nextGroup();
      const started = process.hrtime.bigint();
      try {
        for (const segment of group) await this.deps.persistKeys(segment.keys, segment.days, segment.days.length, segment.projects);
        const result = await this.load(group);
        for (const segment of group) {
          await fs.rm(segment.file, { force: true });
          this.queue.shift();
          this.queued -= segment.count;
          for (const [p, n] of segment.eventsByProject) this.queuedByProject.add(p, -n);
        }
        this.failures = 0;
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        if (result.deadLettered > 0) {
          this.deps.logger.warn({ segments: group.map((g) => g.id), deadLetters: result.deadLettered }, 'segments had events that could not be stored; see dead letters');
        }
        this.deps.onLoaded?.(group, result, seconds);
      } catch (err) {
        this.failures++;
        const wait = Math.min(MAX_BACKOFF_MS, 100 * 2 ** this.failures);
        this.deps.logger.error({ err, segments: group.map((g) => g.id), retryInMs: wait }, 'segment load failed; will retry');
        await new Promise((r) => setTimeout(r, wait));
      }
    }
    for (const w of this.idleWaiters.splice(0)) w();
  }
}
