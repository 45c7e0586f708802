// The Segment-compatible routes (/v1/*), for Segment's and RudderStack's SDKs pointed at Solute.
// Registered in their own Fastify context, so their body parsing (any of three Content-Types, gzip and
// deflate) does not touch POST /api/events. They run the same ack path (acceptBatch) with Segment's rules.
import type { FastifyInstance } from 'fastify';
import { SoluteError, isSoluteError } from '../../errors.js';
import type { AcceptBatch } from '../accept-batch.js';
import type { KeyResolver } from '../../contracts/key-store.js';
import type { Metrics } from '../../metrics.js';
import type { AnyEventType } from '../check/event.schema.js';
import { segmentWriteKeyHooks } from '../hooks/auth.hook.js';
import { decodingJsonParser, discardBody } from '../decode-body.js';
import { SECURITY } from '../openapi.js';

/** Route path → the type it gives its one event; null: a batch. */
export const SEGMENT_ROUTES: Readonly<Record<string, AnyEventType | null>> = {
  '/v1/batch': null,
  '/v1/b': null,
  '/v1/track': 'track',
  '/v1/t': 'track',
  '/v1/identify': 'identify',
  '/v1/i': 'identify',
  '/v1/page': 'page',
  '/v1/p': 'page',
  '/v1/screen': 'screen',
  '/v1/s': 'screen',
  '/v1/group': 'group',
  '/v1/g': 'group',
  '/v1/alias': 'alias',
  '/v1/a': 'alias',
};

/**
 * Load shedding on /v1 is a 429 with Retry-After, not a 503: Segment's and RudderStack's SDKs both wait
 * on a 429, while RudderStack's gives up on a 503 after ~1.6 s (and then crashes its host app).
 * Nothing of the request was kept, as with the 503 it replaces, so the retry is safe.
 */
function asSlowDown(err: unknown): unknown {
  if (isSoluteError(err) && err.status === 503 && err.retryAfter !== undefined) {
    return new SoluteError('SOL_ERR_INGEST_SLOW_DOWN', [err.message], { retryAfter: err.retryAfter, cause: err });
  }
  return err;
}

/** The browser SDK's own metrics: answered, never stored, no key needed. */
export const SEGMENT_METRICS_ROUTE = '/v1/m';

/** analytics.js sends a few hundred bytes of counters; nothing needs more. */
export const METRICS_BODY_LIMIT = 16 * 1024;

export const SEGMENT_BODY_TYPES = ['application/json', 'text/plain', 'application/x-www-form-urlencoded'];

export function segmentRoutes(
  app: FastifyInstance,
  deps: { acceptBatch: AcceptBatch; keys: KeyResolver; metrics: Metrics; bodyLimitBytes: number },
): void {
  app.register(async (v1) => {
    // Prototype keys are refused per event (check-event.ts), not for the whole request.
    const parseJson = v1.getDefaultJsonParser('ignore', 'ignore');
    v1.removeAllContentTypeParsers();
    v1.addContentTypeParser(SEGMENT_BODY_TYPES, decodingJsonParser(deps.bodyLimitBytes, parseJson));

    // Every error of these routes passes here, whichever hook threw it (shutdown, bytes in flight)
    // or the ack path (backlog, dedupe, disk): one place turns load shedding into 429.
    const parent = v1.errorHandler;
    v1.setErrorHandler(function segmentErrorHandler(err, req, reply) {
      return parent.call(this, asSlowDown(err) as typeof err, req, reply);
    });

    const auth = segmentWriteKeyHooks(deps.keys);
    for (const [url, routeType] of Object.entries(SEGMENT_ROUTES)) {
      const opts = { routeType };
      const schema = { summary: routeType ? `Segment-compatible ${routeType} (one event)` : 'Segment-compatible batch', security: SECURITY.segment };
      v1.post(url, { onRequest: auth.onRequest, preHandler: auth.preHandler, schema }, async (req, reply) => {
        const result = await deps.acceptBatch(req.apiKey!.project, req.body, opts, req.ip ?? null);
        deps.metrics.accepted.inc(result.processed);
        deps.metrics.duplicates.inc(result.duplicates);
        deps.metrics.countRejected(result.errors);
        // 200 even when no event was valid (Segment does so; a 4xx makes RudderStack's SDK crash its
        // host app): the per-event body says what failed.
        return reply.code(200).send(result);
      });
    }
  });
  // Its own context: no key, so its body is read (and thrown away) only up to METRICS_BODY_LIMIT,
  // whatever its type or encoding, and never parsed.
  app.register(async (m) => {
    m.removeAllContentTypeParsers();
    m.addContentTypeParser('*', discardBody(METRICS_BODY_LIMIT));
    m.post(SEGMENT_METRICS_ROUTE, { schema: { summary: "The browser SDK's own metrics: answered 200, not stored" } }, async (_req, reply) => reply.code(200).send({ success: true }));
  });
}
