// The store port: where events become queryable, with the profiles and groups made from them.
import type { LogLine } from './log-line.js';
import type { GroupChanges, GroupState, IdentityChanges, IdentityState, StateWarning } from './profiles.js';

export interface EventFilter {
  type?: string;
  event?: string;
  userId?: string;
  anonymousId?: string;
  messageId?: string;
  /** Inclusive lower bound on the corrected timestamp, epoch ms. */
  from?: number;
  /** Exclusive upper bound on the corrected timestamp, epoch ms. */
  to?: number;
  limit: number;
  cursor?: { t: number; s: number };
}

export interface EventPage {
  events: Array<Record<string, unknown>>;
  /** Position of the last event returned when more may follow. */
  next: { t: number; s: number } | null;
}

export interface LoadResult {
  stored: number;
  deadLettered: number;
  /** The stateful steps' warnings (a refused merge, a bound applied), one per event and case; absent when none. */
  warnings?: StateWarning[];
}

export interface CommitOptions {
  /**
   * Do everything a commit does, then roll it back: the result or the error a commit would have had,
   * and nothing written. The batch loader's trials, to find the line that fails a batch.
   */
  dryRun?: boolean;
}

/** A log line after the per-event steps, with where it came from. */
export interface ProcessedLine {
  /** Line number in its segment, from 0. */
  index: number;
  /** Its segment, when one load covers several (SegmentFileLoader); else the batch's id. */
  segment?: number;
  /** The line as the log holds it (what a dead letter keeps, and what a replay starts from). */
  raw: string;
  line: LogLine;
  /**
   * The event as the store writes it, set by the store's encodeLine right after the per-event steps
   * (then `line.e` of a line the stateful steps do not read may be dropped, so that a group waiting
   * for its commit does not hold every parsed event).
   */
  encoded?: string;
  /**
   * Set on a line the bulk enrichment rule covers, when the store keeps enrichment beside the event
   * (EventStore.keepsEnrichmentBeside): the line was not parsed, `encoded` is its event as the edge
   * wrote it, and these are the keys the enrich step would have appended to its context, in order.
   */
  added?: ContextAdditions;
}

/** What the enrich step appends to a bulk-rule event's context (contracts/log-line.ts bulkShape), in this order; absent keys omitted. */
export interface ContextAdditions {
  ip?: string;
  browser?: Readonly<Record<string, string>>;
  os?: Readonly<Record<string, string>>;
  device?: Readonly<Record<string, string>>;
}

export interface DeadLetterInput {
  segment: number;
  index: number;
  project: string | null;
  /** The step that failed: parse, enrich, identity, groups, store. */
  step: string;
  reason: string;
  raw: string;
}

export interface DeadLetter extends DeadLetterInput {
  id: number;
  createdAt: string;
  attempts: number;
}

/** What a step decided, and the events it could not handle (they become dead letters). */
export interface StepOutcome<T> {
  changes: T;
  failed: Array<{ line: LogLine; reason: string }>;
}

/** A step that needs stored state: the store loads what `ids` names and applies what `resolve` returns, in one transaction. */
export interface StatefulStep<S, C> {
  ids(lines: readonly LogLine[]): string[];
  resolve(lines: readonly LogLine[], state: S): StepOutcome<C>;
}

export interface BatchSteps {
  identity: StatefulStep<IdentityState, IdentityChanges>;
  groups: StatefulStep<GroupState, GroupChanges>;
}

export interface StoreBatch {
  /** The segment the lines come from: committed once; a segment already committed is a no-op. */
  segment: number;
  /**
   * The log the segment id belongs to, when ids can start over (a JetStream stream recreated under
   * the same name numbers its messages from 1 again): `nats:<stream>:<creation time>`. Absent: the
   * embedded log, whose ids never repeat.
   */
  source?: string;
  lines: ProcessedLine[];
  /** Lines that failed an earlier step. */
  deadLetters: DeadLetterInput[];
}

export interface DeadLetterFilter {
  project?: string;
  ids?: number[];
  limit: number;
  /** Only ids above this one (paging). */
  afterId?: number;
}

export interface ReplayResult {
  /** Dead letters stored now (and removed from the table). */
  stored: number;
  /** Dead letters that failed again (kept, with the new reason and one more attempt). */
  failed: number;
  /** Ids asked for that were not (or no longer) dead letters. */
  missing: number;
}

export interface EventStore {
  /** The highest segment id committed, 0 when none. */
  lastSegmentId(): Promise<number>;
  /** The highest sequence number stored, 0 when none. */
  maxSeq(): Promise<number>;
  /**
   * Stores a segment's lines, the identity and group changes they make, and its dead letters, in one
   * transaction, once. What the stateful steps' work throws is marked with the step (lib/step-error.ts).
   */
  commitBatch(batch: StoreBatch, steps: BatchSteps, opts?: CommitOptions): Promise<LoadResult>;
  /**
   * Several batches of one log as commitBatch would store each, in one transaction (a store that takes
   * many writers, and gains by fewer, larger transactions: PostgreSQL). Absent: one commitBatch each.
   */
  commitBatches?(batches: readonly StoreBatch[], steps: BatchSteps, opts?: CommitOptions): Promise<LoadResult>;
  /** True when commits may run at once (each in its own transaction): loaders then do not queue them. */
  readonly concurrentCommits?: boolean;
  /**
   * True when the store keeps a bulk-rule event as the edge wrote it, with what enrichment adds beside
   * it (ProcessedLine.added), merged back when read: the pipeline then reads such lines without
   * parsing their events (process/pipeline.ts).
   */
  readonly keepsEnrichmentBeside?: boolean;
  /** Called on each line right after the per-event steps (see ProcessedLine.encoded). */
  encodeLine?(line: ProcessedLine): void;
  /** Dead letters, oldest first. */
  deadLetters(filter: DeadLetterFilter): Promise<DeadLetter[]>;
  /**
   * Stores replayed dead letters: each line's dead letter (by id) is removed in the same
   * transaction as the line is stored; `failed` lines keep theirs with the new reason.
   */
  commitReplay(lines: Array<ProcessedLine & { deadLetterId: number }>, failed: Array<{ deadLetterId: number; step: string; reason: string }>, steps: BatchSteps): Promise<ReplayResult>;
  queryEvents(project: string, filter: EventFilter): Promise<EventPage>;
  countEvents(): Promise<number>;
  close(): Promise<void>;
}

/**
 * Enrichment as lookups, for a store that loads a whole log segment in bulk (see SegmentFileLoader):
 * the store asks once per distinct user agent instead of running a step per event (the client IP is
 * in the line in its stored form already: contracts/log-line.ts `i`).
 */
export interface BulkEnrich {
  /** The context keys a user agent adds (each null when the parser found nothing for it). */
  userAgent(ua: string): { browser: Readonly<Record<string, string>> | null; os: Readonly<Record<string, string>> | null; device: Readonly<Record<string, string>> | null };
  /** The per-event path (parse and every per-event step) for the lines the bulk path does not take. */
  perEvent(segment: number, raws: readonly string[], indexes: readonly number[]): { lines: ProcessedLine[]; dead: DeadLetterInput[] };
}

/** A store that can load closed segment files itself (the embedded store: DuckDB reads NDJSON natively). */
export interface SegmentFileLoader {
  /**
   * Stores the segments, in one transaction, like commitBatch would with the per-event steps run on
   * every line, once (a segment committed before is skipped). null: some file cannot be read in bulk
   * (a damaged line); nothing was written and the caller takes the per-event path.
   */
  loadSegmentFiles(segments: ReadonlyArray<{ id: number; file: string }>, enrich: BulkEnrich, steps: BatchSteps): Promise<LoadResult | null>;
}
