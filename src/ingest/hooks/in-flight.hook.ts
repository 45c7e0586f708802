// Bounds the request bodies held in memory at once on the ingest routes: each request reserves its
// Content-Length (or the body limit when it is unknown or compressed) until it is answered; past the
// bound, 503 with Retry-After (429 on /v1, via the caller) before anything is read. One request always
// passes, so a bound below the body limit cannot lock everyone out.
import type { FastifyRequest } from 'fastify';
import { SoluteError } from '../../errors.js';

export function inFlightLimit(opts: { maxBytes: number; bodyLimit: number; retryAfter: number; isIngest: (req: FastifyRequest) => boolean }) {
  let inFlight = 0;
  const held = new WeakMap<FastifyRequest, number>();

  const release = async (req: FastifyRequest): Promise<void> => {
    const cost = held.get(req);
    if (cost === undefined) return;
    held.delete(req);
    inFlight -= cost;
  };

  return {
    get bytes(): number {
      return inFlight;
    },
    onRequest: async function reserveBody(req: FastifyRequest): Promise<void> {
      if (req.method !== 'POST' || !opts.isIngest(req)) return;
      const length = Number(req.headers['content-length']);
      const encoding = req.headers['content-encoding'];
      const compressed = encoding !== undefined && encoding !== 'identity';
      const cost = Number.isFinite(length) && length >= 0 && !compressed ? Math.min(length, opts.bodyLimit) : opts.bodyLimit;
      if (inFlight > 0 && inFlight + cost > opts.maxBytes) {
        throw new SoluteError('SOL_ERR_OVERLOADED', [], { retryAfter: opts.retryAfter });
      }
      inFlight += cost;
      held.set(req, cost);
    },
    onResponse: release,
    onRequestAbort: release,
  };
}
