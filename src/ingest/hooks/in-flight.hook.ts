// Bounds the request bodies held in memory at once: each request that carries a body reserves its
// Content-Length (or the body limit when it is unknown or compressed) until it is answered; past the
// bound, 503 with Retry-After (429 on /v1, via the caller) before anything is read. Every route
// counts (a body is read, whoever reads it); requests answered before their body is read (preflights,
// unknown routes: see app.ts) are answered before this hook and hold nothing.
// A second bound per project, checked once the key is known (header keys: before the body is read;
// a /v1 key inside the body is known only after it, so such requests count against the global bound
// only). One request always passes each bound, so a bound below the body limit cannot lock everyone out.
import type { FastifyRequest } from 'fastify';
import { SoluteError } from '../../errors.js';
import { Tally } from '../../lib/tally.js';

export function hasBody(req: FastifyRequest): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}

export function inFlightLimit(opts: { maxBytes: number; maxProjectBytes: number; bodyLimit: number; retryAfter: number }) {
  let inFlight = 0;
  const byProject = new Tally<string>();
  const held = new WeakMap<FastifyRequest, { cost: number; project: string | null }>();

  const release = async (req: FastifyRequest): Promise<void> => {
    const h = held.get(req);
    if (h === undefined) return;
    held.delete(req);
    inFlight -= h.cost;
    if (h.project !== null) byProject.add(h.project, -h.cost);
  };

  return {
    get bytes(): number {
      return inFlight;
    },
    onRequest: async function reserveBody(req: FastifyRequest): Promise<void> {
      if (!hasBody(req)) return;
      const length = Number(req.headers['content-length']);
      const encoding = req.headers['content-encoding'];
      const compressed = encoding !== undefined && encoding !== 'identity';
      const cost = Number.isFinite(length) && length >= 0 && !compressed ? Math.min(length, opts.bodyLimit) : opts.bodyLimit;
      if (inFlight > 0 && inFlight + cost > opts.maxBytes) {
        throw new SoluteError('SOL_ERR_OVERLOADED', [], { retryAfter: opts.retryAfter });
      }
      inFlight += cost;
      held.set(req, { cost, project: null });
    },
    /** A preParsing hook: after the routes' onRequest auth, before the body is read. */
    preParsing: async function reserveProjectBody(req: FastifyRequest): Promise<void> {
      const h = held.get(req);
      const project = req.apiKey?.project;
      if (h === undefined || project === undefined) return;
      const used = byProject.get(project);
      if (used > 0 && used + h.cost > opts.maxProjectBytes) {
        throw new SoluteError('SOL_ERR_PROJECT_OVERLOADED', [], { retryAfter: opts.retryAfter });
      }
      byProject.add(project, h.cost);
      h.project = project;
    },
    onResponse: release,
    onRequestAbort: release,
  };
}
