// The durable log port: what the HTTP edge needs to make accepted events durable before it answers.

/** One request's accepted events, ready to write: `text` is `count` NDJSON lines, each ending in \n. */
export interface AppendBatch {
  text: string;
  count: number;
  /** The project every line belongs to. */
  project: string;
  /** 4 uint32 words of dedupe key per keyed line (see dedupe/message-key.ts); a line whose messageId the
   * server assigned has none (`"k":0` in the line), so there may be fewer keys than lines. */
  keys: Uint32Array;
  /** UTC receivedAt day per key; its length is the number of keys. */
  days: Uint16Array;
}

export interface EventLog {
  /** Reserves n consecutive sequence numbers; use them in the append made in the same tick. */
  reserveSeq(n: number): number;
  /** Resolves once every line is durable; rejects otherwise (nothing of it may be acknowledged). */
  append(batch: AppendBatch): Promise<void>;
  /** Increases on every failed write: a reader that saw it change knows an earlier write may be gone. */
  readonly failures: number;
  readonly writable: boolean;
  /** Accepted events not yet handed to the processor. */
  readonly openCount: number;
  close(): Promise<void>;
}

/**
 * True for an append refused because the log is at its configured bound (a JetStream stream at
 * SOLUTE_NATS_MAX_BYTES or SOLUTE_NATS_MAX_MESSAGES) rather than failing: the edge says so (503
 * SOL_ERR_LOG_FULL), and retrying later, once processors have caught up, succeeds.
 */
export function isLogFull(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { logFull?: unknown }).logFull === true;
}

/** A closed, immutable part of the log, waiting to be loaded into the store. */
export interface ClosedSegment {
  id: number;
  file: string;
  /** Lines (events) in the segment. */
  count: number;
  /** Dedupe keys (4 words each) and their days, one per line whose key is known (days.length of them). */
  keys: Uint32Array;
  days: Uint16Array;
  /** The project of each key (projects.length === days.length). */
  projects: string[];
  /** Lines (events) per project: what the per-project backlog bound counts. */
  eventsByProject: Map<string, number>;
}
