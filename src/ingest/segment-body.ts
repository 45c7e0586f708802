// The /v1 (Segment-compatible) routes: turns what Segment's and RudderStack's SDKs send into the
// shape the shared ack path takes ({batch, sentAt} with complete events), so /v1 and /api/events run
// the same checks, dedupe, durable append and store. Only the differences from /api/events live here.
import { randomUUID } from 'node:crypto';
import { SoluteError } from '../errors.js';
import { isIsoDateTime } from './check/check-event.js';
import type { AnyEventType } from './check/event.schema.js';

export interface SegmentRouteOptions {
  /** Single-event routes (/v1/track, /v1/t, ...): the body is one event and its type is this one. Null: /v1/batch. */
  routeType: AnyEventType | null;
}

export interface NormalizedBody {
  batch: unknown[];
  /** The batch's sentAt, or receivedAt when the client sent none. */
  sentAt: string;
  /** Each event's effective sentAt (its own, else the batch's, else receivedAt); null when its own is invalid. */
  eventSentAts: Array<string | null>;
  /** 1 where the server assigned the messageId: nothing can repeat such an event, so it takes no dedupe key. */
  assignedIds: Uint8Array;
}

type Obj = Record<string, unknown>;

/**
 * Most events in one /v1 request. Segment sets none (its bounds are bytes), but 1 MiB of `0,0,0,...`
 * is half a million events, each answered with an error: a 35 MB answer and ~1.5 s of the event loop
 * for one request. The smallest real event is ~40 bytes, so 1 MiB holds at most ~25 000 valid ones;
 * SDKs send tens to hundreds.
 */
export const MAX_V1_BATCH_EVENTS = 10_000;

/** The id fields Segment's API takes as numbers and stores as strings. */
const ID_FIELDS = ['userId', 'anonymousId', 'groupId', 'previousId'] as const;
const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Segment's rules (https://segment.com/docs/connections/sources/catalog/libraries/server/http-api/):
 * - /v1/batch: `batch` of 1..MAX_V1_BATCH_EVENTS (and the 1 MiB body limit and 32 KB per event); the single-event
 *   routes take the event itself, `type` set from the route.
 * - `sentAt` optional, per batch or per event; absent means receivedAt (so no skew correction).
 * - the event time is `timestamp`, else `originalTimestamp`, else the event's sentAt (then it is receivedAt).
 * - a missing `messageId` is assigned here (a UUID): such an event cannot be deduplicated, and takes no
 *   key in the dedupe index (nothing can repeat it; 10,000 of them per request would otherwise fill it).
 * - a missing `context` is `{}`; the batch's top-level `context` and `integrations` are merged into each
 *   event, key by key, the event's own keys winning.
 * - `writeKey` (a credential, used for auth) is not stored.
 * - a finite number in `userId`, `anonymousId`, `groupId` or `previousId` becomes its string (`42` → `"42"`),
 *   as Segment's API does; /api/events refuses numbers there (the spec types them as strings).
 * - at most MAX_V1_BATCH_EVENTS events per request.
 * Events that are not objects are left as they are: the shared check reports them per event.
 */
export function normalizeSegmentBody(body: unknown, opts: SegmentRouteOptions, receivedAt: string): NormalizedBody {
  if (!isObject(body)) throw new SoluteError('SOL_ERR_BODY_NOT_OBJECT');
  let batch: unknown[];
  let batchSentAt: string;
  let context: Obj | null = null;
  let integrations: Obj | null = null;
  if (opts.routeType !== null) {
    body.type = opts.routeType;
    batch = [body];
    batchSentAt = receivedAt;
  } else {
    if (!Array.isArray(body.batch)) throw new SoluteError('SOL_ERR_BATCH_MISSING');
    batch = body.batch;
    if (batch.length === 0) throw new SoluteError('SOL_ERR_BATCH_EMPTY');
    if (batch.length > MAX_V1_BATCH_EVENTS) throw new SoluteError('SOL_ERR_BATCH_TOO_LARGE', [batch.length, MAX_V1_BATCH_EVENTS]);
    if (body.sentAt == null) batchSentAt = receivedAt;
    else if (isIsoDateTime(body.sentAt)) batchSentAt = body.sentAt;
    else throw new SoluteError('SOL_ERR_BATCH_SENT_AT_INVALID');
    if (isObject(body.context)) context = body.context;
    if (isObject(body.integrations)) integrations = body.integrations;
  }

  const eventSentAts: Array<string | null> = new Array(batch.length);
  const assignedIds = new Uint8Array(batch.length);
  for (let i = 0; i < batch.length; i++) {
    const e = batch[i];
    if (!isObject(e)) {
      eventSentAts[i] = batchSentAt;
      continue;
    }
    delete e.writeKey;
    for (const f of ID_FIELDS) {
      const v = e[f];
      if (typeof v === 'number' && Number.isFinite(v)) e[f] = String(v);
    }
    let sentAt: string | null = batchSentAt;
    if (e.sentAt != null) sentAt = isIsoDateTime(e.sentAt) ? e.sentAt : null;
    eventSentAts[i] = sentAt;
    if (e.messageId == null) {
      e.messageId = randomUUID();
      assignedIds[i] = 1;
    }
    if (e.timestamp == null) {
      const t = e.originalTimestamp ?? sentAt;
      if (t != null) e.timestamp = t;
    }
    if (e.context == null) e.context = context === null ? {} : { ...context };
    else if (context !== null && isObject(e.context)) e.context = { ...context, ...e.context };
    if (integrations !== null) {
      if (e.integrations == null) e.integrations = { ...integrations };
      else if (isObject(e.integrations)) e.integrations = { ...integrations, ...e.integrations };
    }
  }
  return { batch, sentAt: batchSentAt, eventSentAts, assignedIds };
}
