// POST /api/events: the spec's batch endpoint.
import type { FastifyInstance } from 'fastify';
import { SoluteError } from '../../errors.js';
import type { AcceptBatch } from '../accept-batch.js';
import type { KeyResolver } from '../../contracts/key-store.js';
import type { Metrics } from '../../metrics.js';
import { writeKeyHook } from '../hooks/auth.hook.js';
import { plainJsonOnly } from '../decode-body.js';
import { Type } from '@sinclair/typebox';
import { Event } from '../check/event.schema.js';
import { SECURITY, docsOnlyValidator } from '../openapi.js';

/** The body as the OpenAPI document shows it. Checked by acceptBatch, not by Fastify (see docsOnlyValidator). */
const batchDoc = (maxEvents: number) =>
  Type.Object(
    {
      batch: Type.Array(Event, { minItems: 1, maxItems: maxEvents }),
      sentAt: Type.String({ format: 'date-time', description: "the client's clock when it sent the batch" }),
    },
    { additionalProperties: true },
  );

export function eventsRoute(app: FastifyInstance, deps: { acceptBatch: AcceptBatch; keys: KeyResolver; metrics: Metrics; maxBatchEvents: number }) {
  const schema = { summary: 'Send a batch of events', security: SECURITY.write, body: batchDoc(deps.maxBatchEvents) };
  app.post('/api/events', { onRequest: writeKeyHook(deps.keys), preParsing: plainJsonOnly, schema, validatorCompiler: docsOnlyValidator }, async (req, reply) => {
    const result = await deps.acceptBatch(req.apiKey!.project, req.body, undefined, req.ip ?? null);
    deps.metrics.accepted.inc(result.processed);
    deps.metrics.duplicates.inc(result.duplicates);
    deps.metrics.countRejected(result.errors);
    if (result.processed === 0) {
      // No event accepted: 400 with the per-event body, plus the stable code every error body has.
      return reply.code(400).send({ ...result, code: 'SOL_ERR_BATCH_NO_VALID_EVENTS' satisfies SoluteError['code'], message: new SoluteError('SOL_ERR_BATCH_NO_VALID_EVENTS').message });
    }
    return reply.code(200).send(result);
  });
}
