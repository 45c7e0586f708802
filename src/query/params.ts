// What the query schemas cannot say. Ajv's type coercion (coerceTypes) turns the text `Infinity` or
// `1e400` into Infinity, which passes `integer`, and its minimum/maximum only look at finite numbers:
// such a `limit` would reach the store. Every query route runs this after validation.
import type { FastifyRequest } from 'fastify';
import { SoluteError } from '../errors.js';

/** preHandler: a 400 naming the first query or path parameter that coercion made a non-finite number. */
export async function refuseNonFinite(req: FastifyRequest): Promise<void> {
  for (const values of [req.query, req.params]) {
    if (values === null || typeof values !== 'object') continue;
    for (const [name, v] of Object.entries(values)) {
      if (typeof v === 'number' && !Number.isFinite(v)) throw new SoluteError('SOL_ERR_QUERY_INVALID_PARAM', [`\`${name}\` must be a finite whole number`]);
    }
  }
}
