// Refuses an ingest POST before its body is read while the processing backlog is at its bound: no
// batch could be accepted then (acceptBatch would refuse it after the parse), so under overload the
// refusal costs no body parse. Below the bound the request goes on, and acceptBatch checks the batch
// exactly (backlog + events in flight + this batch). 503 SOL_ERR_BACKLOG_FULL (429 on /v1, via its
// error handler), with Retry-After.
import type { FastifyRequest } from 'fastify';
import { SoluteError } from '../../errors.js';

export function backlogGate(opts: { full: () => boolean; retryAfter: number; isIngest: (req: FastifyRequest) => boolean }) {
  return async function refuseWhileBacklogFull(req: FastifyRequest): Promise<void> {
    if (req.method !== 'POST' || !opts.isIngest(req)) return;
    if (opts.full()) throw new SoluteError('SOL_ERR_BACKLOG_FULL', [], { retryAfter: opts.retryAfter });
  };
}
