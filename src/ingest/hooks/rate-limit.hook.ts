// Per-project ingest rate limit, in events (a batch's length), not requests: one token bucket per
// project with a limit, in this process's memory. Runs after auth and body parsing (the batch length
// is needed), as the route's last preHandler. A batch that does not fit is refused whole with 429
// SOL_ERR_RATE_LIMITED and Retry-After; every answer of a limited project carries the budget in the
// RateLimit-Limit / -Remaining / -Reset fields of draft-ietf-httpapi-ratelimit-headers-06.
// A project without a limit costs one property read (the limit came with its key, from a map).
import type { FastifyReply, FastifyRequest } from 'fastify';
import { SoluteError } from '../../errors.js';
import type { RateLimit } from '../../contracts/key-store.js';

/** How a route's body holds its events: a batch of 1..maxBatchEvents (/api/events), a batch of any length (/v1/batch), or one event. */
export type EventCount = 'batch' | 'segment-batch' | 'one';

interface Bucket {
  /** The settings this bucket was built for; a change (bin/solute limits set) rebuilds it. */
  readonly limit: RateLimit;
  readonly perMs: number;
  readonly burst: number;
  tokens: number;
  at: number;
}

interface Charge {
  bucket: Bucket;
  /** Events taken from the bucket (0 on a refusal: nothing to give back). */
  taken: number;
}

declare module 'fastify' {
  interface FastifyRequest {
    rateCharge?: Charge;
  }
}

/**
 * The bucket's size when the limit sets none: the rate, but at least a full batch, so that a client
 * sending full batches is never refused forever (a batch larger than the bucket could never fit).
 */
export function defaultBurst(eventsPerSecond: number, maxBatchEvents: number): number {
  return Math.max(eventsPerSecond, maxBatchEvents);
}

export function rateLimitHooks(opts: { maxBatchEvents: number; now?: () => number; onRefused?: (project: string, events: number) => void }) {
  const now = opts.now ?? performance.now.bind(performance);
  const buckets = new Map<string, Bucket>();

  function bucketFor(project: string, limit: RateLimit, t: number): Bucket {
    let b = buckets.get(project);
    if (b === undefined || b.limit.eventsPerSecond !== limit.eventsPerSecond || b.limit.burst !== limit.burst) {
      // New or changed limit: start with a full bucket.
      const burst = limit.burst ?? defaultBurst(limit.eventsPerSecond, opts.maxBatchEvents);
      b = { limit: { ...limit }, perMs: limit.eventsPerSecond / 1000, burst, tokens: burst, at: t };
      buckets.set(project, b);
    } else if (t > b.at) {
      b.tokens = Math.min(b.burst, b.tokens + (t - b.at) * b.perMs);
      b.at = t;
    }
    return b;
  }

  /** The request's events, or null when the body is not a batch the route accepts (its 400 follows; nothing to count). */
  function eventsOf(body: unknown, count: EventCount): number | null {
    if (count === 'one') return 1;
    const batch = typeof body === 'object' && body !== null ? (body as { batch?: unknown }).batch : undefined;
    if (!Array.isArray(batch) || batch.length === 0) return null;
    if (count === 'batch' && batch.length > opts.maxBatchEvents) return null;
    return batch.length;
  }

  function preHandler(count: EventCount) {
    return async function rateLimit(req: FastifyRequest, _reply: FastifyReply): Promise<void> {
      const limit = req.apiKey?.rateLimit;
      if (!limit) return;
      const n = eventsOf(req.body, count);
      if (n === null) return;
      const project = req.apiKey!.project;
      const b = bucketFor(project, limit, now());
      // A batch larger than the bucket (only possible on /v1/batch, or with --burst below the batch
      // limit) passes when the bucket is full and leaves it in debt, so the rate still holds over time.
      const need = Math.min(n, b.burst);
      if (b.tokens >= need) {
        b.tokens -= n;
        req.rateCharge = { bucket: b, taken: n };
        return;
      }
      req.rateCharge = { bucket: b, taken: 0 };
      const wait = Math.max(1, Math.ceil((need - b.tokens) / b.perMs / 1000));
      opts.onRefused?.(project, n);
      throw new SoluteError('SOL_ERR_RATE_LIMITED', [limit.eventsPerSecond, b.burst, n, wait], { retryAfter: wait });
    };
  }

  /**
   * Gives the events back when the request was refused for another reason (400 on the whole batch,
   * 503 backlog full, ...): nothing of it was kept, and the client's retry should not pay twice.
   * Then writes the budget as it stands into the answer.
   */
  async function onSend(req: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
    const charge = req.rateCharge;
    if (charge === undefined) return payload;
    const b = charge.bucket;
    if (charge.taken > 0 && reply.statusCode !== 200) {
      b.tokens = Math.min(b.burst, b.tokens + charge.taken);
      charge.taken = 0;
    }
    const tokens = Math.max(0, b.tokens);
    reply.header('ratelimit-limit', String(b.burst));
    reply.header('ratelimit-remaining', String(Math.floor(tokens)));
    reply.header('ratelimit-reset', String(b.tokens >= b.burst ? 0 : Math.ceil((b.burst - b.tokens) / b.perMs / 1000)));
    return payload;
  }

  return { preHandler, onSend };
}

/** The response fields this hook sets, for CORS's Access-Control-Expose-Headers. */
export const RATE_LIMIT_HEADERS = ['RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset'] as const;
