// The acknowledgement path: check a batch, drop duplicates, make the rest durable, then answer.
// Nothing here waits for the store: the processor loads the log after the response.
import { SoluteError, formatMessage } from '../errors.js';
import { isLogFull, type EventLog } from '../contracts/event-log.js';
import type { Dedupe } from '../contracts/dedupe.js';
import type { AckTap, AckedEvent } from '../contracts/console.js';
import { checkEvent, checkSegmentEvent, isIsoDateTime } from './check/check-event.js';
import { mayHoldLoneSurrogate, wellFormed } from '../lib/well-formed.js';
import { storedClientIp } from '../lib/ip.js';
import { bulkShape, bulkUserAgent, lineHead, lineTail } from '../contracts/log-line.js';
import { Tally } from '../lib/tally.js';
import { normalizeSegmentBody, type SegmentRouteOptions } from './segment-body.js';

export interface AcceptConfig {
  maxBatchEvents: number;
  maxEventBytes: number;
  /** The decoded body limit: a request's events as stored (batch context copied in) may take twice this. */
  bodyLimitBytes: number;
  backlogMaxEvents: number;
  /** Accepted-not-stored events one project may have; past it that project alone gets 503. */
  projectBacklogMaxEvents: number;
  retryAfterSeconds: number;
  /** Named in the answer when a project holds its bound of dedupe keys. */
  dedupeMaxKeysPerProject: number;
  /** SOLUTE_IP_MODE: `drop`, the client IP is not written into the log at all; `truncate`, only its
   * /24 or /48 is. Absent: keep. (The enrich step applies it to client-sent context.ip.) */
  ipMode?: 'keep' | 'truncate' | 'drop';
}

export interface AcceptDeps {
  log: EventLog;
  dedupe: Dedupe;
  /** Accepted events not yet stored. */
  backlog: () => number;
  /** Accepted events of one project not yet stored; absent: no per-project bound (a cluster's shared log). */
  projectBacklog?: (project: string) => number;
  now?: () => number;
  /** The console's live view: handed each request's events once durable, only while someone watches the project. */
  tap?: AckTap;
}

export interface EventError {
  index: number;
  code: 'SOL_ERR_EVENT_INVALID' | 'SOL_ERR_EVENT_TOO_LARGE';
  error: string;
}

/** The body of the answer, the spec's shape plus `duplicates`. */
export interface AcceptResult {
  success: boolean;
  processed: number;
  failed: number;
  duplicates: number;
  errors: EventError[];
}

const DAY_MS = 86_400_000;
/**
 * A corrected timestamp more than this after receivedAt is not believed (PostHog's rule): the event is
 * stored at receivedAt and flagged. So is one before 1970-01-01T00:00:00Z. Older ones are kept (backfills).
 */
const FUTURE_MS = 23 * 3_600_000;
/** The fields Solute sets on a stored event; a client that sends them has them replaced (or removed). */
const ADDED_FIELDS = ['originalTimestamp', 'sentAt', 'receivedAt', 'ingestionWarnings'] as const;
export type IngestionWarning = 'timestamp_in_future' | 'timestamp_before_1970';
/** `,"originalTimestamp":` plus the two quotes of the corrected timestamp's value. */
const ORIGINAL_TIMESTAMP_KEY_BYTES = ',"originalTimestamp":'.length + 2;

export function createAcceptBatch(config: AcceptConfig, deps: AcceptDeps) {
  const now = deps.now ?? Date.now;
  const maxEventBytes = config.maxEventBytes;
  /**
   * Events of requests between the backlog check and the end of their write. deps.backlog() counts
   * an event only once it is written, so without these, concurrent requests would all pass the check.
   */
  let inFlight = 0;
  /** The same, per project. */
  const projectInFlight = new Tally<string>();
  /** Bytes a request's log lines may take: the decoded body limit twice over. Past it, 413. */
  const maxStoredBytes = 2 * config.bodyLimitBytes;

  /**
   * `segment` (the /v1 routes): Segment's rules, applied by normalizeSegmentBody before the shared
   * path: one event or a batch of up to 10 000, optional sentAt (per event too), assigned messageIds,
   * batch context/integrations merged, `screen` allowed. Absent (POST /api/events): the spec's rules,
   * with no per-event work beyond them.
   * `clientIp`: the request's client IP (the socket's peer, or X-Forwarded-For through a trusted proxy),
   * written beside each event as the log line's `i` for the processor's enrich step (after
   * SOLUTE_IP_MODE); null when unknown.
   */
  return async function acceptBatch(
    project: string,
    body: unknown,
    segment?: SegmentRouteOptions,
    clientIp: string | null = null,
  ): Promise<AcceptResult> {
    let batch: unknown[];
    let sentAt: string;
    /** /v1 only: each event's own sentAt (null: invalid); absent on /api/events, where sentAt is per batch. */
    let eventSentAts: Array<string | null> | null = null;
    /** /v1 only: 1 where the server assigned the messageId (no dedupe key). */
    let assignedIds: Uint8Array | null = null;
    const receivedMs = now();
    const receivedAt = new Date(receivedMs).toISOString();
    if (segment === undefined) {
      if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new SoluteError('SOL_ERR_BODY_NOT_OBJECT');
      const b = body as { batch?: unknown; sentAt?: unknown };
      if (!Array.isArray(b.batch)) throw new SoluteError('SOL_ERR_BATCH_MISSING');
      batch = b.batch;
      if (batch.length === 0) throw new SoluteError('SOL_ERR_BATCH_EMPTY');
      if (batch.length > config.maxBatchEvents) throw new SoluteError('SOL_ERR_BATCH_TOO_LARGE', [batch.length, config.maxBatchEvents]);
      if (!isIsoDateTime(b.sentAt)) throw new SoluteError('SOL_ERR_BATCH_SENT_AT_INVALID');
      sentAt = b.sentAt;
    } else {
      const n = normalizeSegmentBody(body, segment, receivedAt);
      batch = n.batch;
      sentAt = n.sentAt;
      eventSentAts = n.eventSentAts;
      assignedIds = n.assignedIds;
    }
    if (deps.backlog() + inFlight + batch.length > config.backlogMaxEvents) {
      throw new SoluteError('SOL_ERR_BACKLOG_FULL', [], { retryAfter: config.retryAfterSeconds });
    }
    if (deps.projectBacklog && deps.projectBacklog(project) + projectInFlight.get(project) + batch.length > config.projectBacklogMaxEvents) {
      throw new SoluteError('SOL_ERR_PROJECT_BACKLOG_FULL', [config.projectBacklogMaxEvents], { retryAfter: config.retryAfterSeconds });
    }
    const check = segment === undefined ? checkEvent : checkSegmentEvent;

    const day = Math.floor(receivedMs / DAY_MS);
    let skew = receivedMs - Date.parse(sentAt); // Segment: timestamp = receivedAt - (sentAt - originalTimestamp)
    // The size limit applies to the event as sent. It is measured on the stored JSON (one stringify
    // per event) minus exactly what Solute adds: sentAt and receivedAt (the same for every event),
    // originalTimestamp, and the corrected timestamp in place of the original one.
    let eventSentAt = sentAt;
    const addedFor = (at: string) => {
      const text = ',"sentAt":' + JSON.stringify(at) + ',"receivedAt":' + JSON.stringify(receivedAt);
      return { chars: text.length, bytes: Buffer.byteLength(text) };
    };
    let batchAdded = addedFor(sentAt);

    // The same for every event of the request: worked out once. With SOLUTE_IP_MODE=drop it never
    // reaches the disk, with truncate only its /24 or /48 does.
    // In its stored form (contracts/log-line.ts `i`): what enrichment puts in context.ip as it is.
    const ip = storedClientIp(clientIp, config.ipMode ?? 'keep');
    const ipJson = ip === null ? 'null' : JSON.stringify(ip);

    const errors: EventError[] = [];
    /** Each accepted event's log line from its `"t"` on; the line's start needs its sequence number. */
    const tails: string[] = [];
    /** Whether each of those lines is one the bulk enrichment rule covers (the line's `c`). */
    const bulk: boolean[] = [];
    /** Keys claimed by this request (`claimed` of them), one per accepted event with a client-sent messageId. */
    const keys = new Uint32Array(batch.length * 4);
    let claimed = 0;
    let duplicates = 0;
    /**
     * The accepted events' size as stored so far (their JSON, not the log line's fields beside them):
     * UTF-16 units, and bytes once the units could pass the bound (3 bytes a unit at most).
     */
    const storedJsons: string[] = [];
    let storedChars = 0;
    let storedBytes = -1;
    const watched: AckedEvent[] | null = deps.tap?.watching(project) ? [] : null;

    for (let i = 0; i < batch.length; i++) {
      const event = batch[i] as Record<string, unknown>;
      if (eventSentAts !== null) {
        // /v1: this event's own sentAt, when it has one (Rudder stamps each event).
        const own = eventSentAts[i];
        if (own === null) {
          errors.push({ index: i, code: 'SOL_ERR_EVENT_INVALID', error: '`sentAt` must be an ISO 8601 date-time with a time zone, e.g. 2025-01-15T10:30:00Z' });
          continue;
        }
        if (own !== eventSentAt) {
          eventSentAt = own;
          skew = receivedMs - Date.parse(own);
          batchAdded = addedFor(own);
        }
      }
      const problem = check(event);
      if (problem !== null) {
        errors.push({ index: i, code: 'SOL_ERR_EVENT_INVALID', error: problem });
        continue;
      }
      // Rare: the client sent fields Solute sets itself; measure the event as sent before replacing them.
      const sentJson = ADDED_FIELDS.some((f) => Object.hasOwn(event, f)) ? JSON.stringify(event) : null;
      const original = event.timestamp as string;
      let t = Date.parse(original) + skew;
      let warning: IngestionWarning | null = null;
      // Checked before any Date is built from t: a skew of years could take it past year 9999.
      if (!(t <= receivedMs + FUTURE_MS)) warning = 'timestamp_in_future';
      else if (t < 0) warning = 'timestamp_before_1970';
      if (warning !== null) t = receivedMs;
      const corrected = warning === null ? new Date(t).toISOString() : receivedAt; // ASCII: its length is its size in bytes
      event.originalTimestamp = original;
      event.timestamp = corrected;
      event.sentAt = eventSentAt;
      event.receivedAt = receivedAt;
      let warningChars = 0;
      if (warning !== null) {
        event.ingestionWarnings = [warning];
        warningChars = ',"ingestionWarnings":[""]'.length + warning.length;
      } else if (sentJson !== null) {
        delete event.ingestionWarnings;
      }
      let json = JSON.stringify(event);
      const addedChars = batchAdded.chars + ORIGINAL_TIMESTAMP_KEY_BYTES + corrected.length + warningChars;
      const addedBytes = batchAdded.bytes + ORIGINAL_TIMESTAMP_KEY_BYTES + corrected.length + warningChars;
      // A UTF-16 code unit is at most 3 bytes of UTF-8: only events that may be near the limit are measured.
      const sentBound = sentJson !== null ? sentJson.length * 3 : (json.length - addedChars) * 3;
      if (sentBound > maxEventBytes) {
        const size = sentJson !== null ? Buffer.byteLength(sentJson) : Buffer.byteLength(json) - addedBytes;
        if (size > maxEventBytes) {
          errors.push({ index: i, code: 'SOL_ERR_EVENT_TOO_LARGE', error: formatMessage('SOL_ERR_EVENT_TOO_LARGE', [size, maxEventBytes]) });
          continue;
        }
      }
      // Lone surrogates are kept as U+FFFD: harmless data, and the store can take them. (After the
      // size check, which measures the event as sent.)
      let stored = event;
      if (mayHoldLoneSurrogate(json)) {
        stored = wellFormed(event) as Record<string, unknown>;
        json = JSON.stringify(stored);
      }
      // The key is the messageId as stored (well-formed): what dedupe takes as one id is stored as one id.
      const assigned = assignedIds !== null && assignedIds[i] === 1;
      if (!assigned) {
        deps.dedupe.key(project, stored.messageId as string, keys, claimed * 4);
        const claim = deps.dedupe.claim(keys, claimed * 4, day, project);
        if (claim === 'present') {
          duplicates++;
          watched?.push({ event: stored, duplicate: true });
          continue;
        }
        if (claim !== 'inserted') {
          releaseClaimed();
          if (claim === 'project-full') throw new SoluteError('SOL_ERR_PROJECT_DEDUPE_FULL', [config.dedupeMaxKeysPerProject], { retryAfter: config.retryAfterSeconds });
          throw new SoluteError('SOL_ERR_DEDUPE_FULL', [], { retryAfter: config.retryAfterSeconds });
        }
        claimed++;
      }
      // The store's indexed columns ride beside the event, so loading needs no JSON path lookups.
      const isBulk = bulkShape(stored);
      const tail = lineTail(stored, t, receivedMs, ipJson, isBulk ? bulkUserAgent(stored) : null, assigned, json);
      tails.push(tail);
      bulk.push(isBulk);
      watched?.push({ event: stored, duplicate: false });
      // Bounded per request: a small /v1 body whose batch context is copied into 10,000 events would
      // otherwise write hundreds of MB (and pass V8's string limit while being joined).
      storedJsons.push(json);
      storedChars += json.length;
      if (storedChars * 3 > maxStoredBytes) {
        storedBytes = storedBytes < 0 ? storedJsons.reduce((sum, x) => sum + Buffer.byteLength(x), 0) : storedBytes + Buffer.byteLength(json);
        if (storedBytes > maxStoredBytes) {
          releaseClaimed();
          throw new SoluteError('SOL_ERR_BATCH_STORED_TOO_LARGE', [maxStoredBytes]);
        }
      }
    }

    function releaseClaimed(): void {
      deps.dedupe.release(keys, new Uint16Array(claimed).fill(day), claimed, project);
    }

    const processed = tails.length + duplicates;
    if (processed > 0) {
      // A duplicate's original may still be in flight in another request's write: this append
      // queues behind it, and a write failure in between (failures changes) means it may be gone.
      const failuresBefore = deps.log.failures;
      const count = tails.length;
      const first = deps.log.reserveSeq(count);
      const heads = [lineHead(project, false), lineHead(project, true)];
      let text = '';
      for (let j = 0; j < count; j++) text += heads[bulk[j] ? 1 : 0] + (first + j) + tails[j];
      // Synchronously after the checks above: no other request ran in between.
      inFlight += count;
      projectInFlight.add(project, count);
      const days = new Uint16Array(claimed).fill(day);
      try {
        await deps.log.append({ text, count, project, keys: keys.subarray(0, claimed * 4), days });
      } catch (err) {
        releaseClaimed();
        throw new SoluteError(isLogFull(err) ? 'SOL_ERR_LOG_FULL' : 'SOL_ERR_LOG_UNAVAILABLE', [], { retryAfter: config.retryAfterSeconds, cause: err });
      } finally {
        inFlight -= count;
        projectInFlight.add(project, -count);
      }
      if (duplicates > 0 && deps.log.failures !== failuresBefore) {
        throw new SoluteError('SOL_ERR_LOG_UNAVAILABLE', [], { retryAfter: config.retryAfterSeconds });
      }
      if (watched !== null) deps.tap!.acknowledged(project, watched); // durable now; the tap only queues them
    }
    return { success: errors.length === 0, processed, failed: errors.length, duplicates, errors };
  };
}

export type AcceptBatch = ReturnType<typeof createAcceptBatch>;
