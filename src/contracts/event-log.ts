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

/**
 * A log line is `{"p":project,"s":seq,"t":timestampMs,"y":type,"n":event,"u":userId,"a":anonymousId,
 * "m":messageId,"i":clientIp,"e":event}`, keys in that order: `e` is the event as sent plus receivedAt,
 * originalTimestamp, sentAt and the corrected timestamp (epoch ms in `t`); y/n/u/a/m repeat the fields
 * the store indexes (null when absent); `i` is the IP of the request's client as the HTTP edge saw it
 * (the socket's peer, or X-Forwarded-For through a trusted proxy; its /24 or /48 when SOLUTE_IP_MODE is
 * truncate; null when unknown or SOLUTE_IP_MODE is drop), for the processor's enrich step. Lines written before `i` existed lack it: read it as null.
 * `"k":0` between `i` and `e` marks a line without a dedupe key (a messageId the server assigned).
 */
export interface LogLine {
  p: string;
  s: number;
  t: number;
  y: string;
  n: string | null;
  u: string | null;
  a: string | null;
  m: string;
  /** Client IP of the request (absent in lines written by earlier versions). */
  i?: string | null;
  /** 0: the server assigned the messageId (a /v1 event without one), so the line has no dedupe key. Absent: it has one. */
  k?: 0;
  e: Record<string, unknown>;
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
