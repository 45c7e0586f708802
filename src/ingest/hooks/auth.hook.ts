// Resolves the caller's key before the body is read, so a bad key costs no parsing.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { SoluteError } from '../../errors.js';
import type { KeyResolver, ResolvedKey } from '../../contracts/key-store.js';

declare module 'fastify' {
  interface FastifyRequest {
    apiKey?: ResolvedKey;
    /** The secret key a console session stands for (src/console/session.ts), when the request carries its cookie and no Authorization. */
    consoleKey?: ResolvedKey;
  }
}

/** Ingest routes: a write key in X-Api-Key. */
export function writeKeyHook(keys: KeyResolver) {
  return async function writeKeyAuth(req: FastifyRequest, _reply: FastifyReply): Promise<void> {
    const header = req.headers['x-api-key'];
    const key = Array.isArray(header) ? header[0] : header;
    if (!key) throw new SoluteError('SOL_ERR_AUTH_MISSING_KEY');
    req.apiKey = resolveWriteKey(keys, key, req);
  };
}

function resolveWriteKey(keys: KeyResolver, key: string, req: FastifyRequest): ResolvedKey {
  const resolved = keys.resolve(key);
  if (!resolved) throw new SoluteError('SOL_ERR_AUTH_INVALID_KEY');
  if (resolved.kind !== 'write') {
    throw new SoluteError('SOL_ERR_AUTH_WRONG_KEY_KIND', ['secret keys (sk_) can only read; send events with a write key (wk_)']);
  }
  // A project's allowed-origins list binds browsers (they send Origin and cannot forge it); a
  // request without Origin (a server-side SDK) is not a browser's and passes.
  const origin = req.headers.origin;
  if (resolved.allowedOrigins.length > 0 && origin !== undefined && !resolved.allowedOrigins.includes(origin.toLowerCase())) {
    throw new SoluteError('SOL_ERR_AUTH_ORIGIN_NOT_ALLOWED', [JSON.stringify(origin.slice(0, 200))]);
  }
  return resolved;
}

/**
 * The /v1 (Segment-compatible) routes take the write key in any of the places Segment's and
 * RudderStack's SDKs put it, first found wins: X-Api-Key; Authorization: Basic base64("key:") (the
 * colon optional); ?writeKey= (beacons); then, only when none of those is there, `writeKey` in the
 * body or in an event of it. The header and query forms are checked before the body is read
 * (onRequest); the body forms once it is parsed (preHandler). A key that is present but wrong is
 * refused at once: no fallback to another place.
 */
export function segmentWriteKeyHooks(keys: KeyResolver) {
  return {
    onRequest: async function segmentHeaderAuth(req: FastifyRequest, _reply: FastifyReply): Promise<void> {
      const key = headerOrQueryKey(req);
      if (key !== null) req.apiKey = resolveWriteKey(keys, key, req);
    },
    preHandler: async function segmentBodyAuth(req: FastifyRequest, _reply: FastifyReply): Promise<void> {
      if (req.apiKey) return;
      const key = bodyKey(req.body);
      if (key === null) throw new SoluteError('SOL_ERR_AUTH_MISSING_KEY');
      req.apiKey = resolveWriteKey(keys, key, req);
    },
  };
}

function headerOrQueryKey(req: FastifyRequest): string | null {
  const header = req.headers['x-api-key'];
  const apiKey = Array.isArray(header) ? header[0] : header;
  if (apiKey) return apiKey;
  const m = /^Basic\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  if (m) {
    const decoded = Buffer.from(m[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const user = colon === -1 ? decoded : decoded.slice(0, colon);
    if (user) return user;
  }
  const q = (req.query as Record<string, unknown> | undefined)?.writeKey;
  const fromQuery = Array.isArray(q) ? q[0] : q;
  if (typeof fromQuery === 'string' && fromQuery) return fromQuery;
  return null;
}

function bodyKey(body: unknown): string | null {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return null;
  const b = body as { writeKey?: unknown; batch?: unknown };
  if (typeof b.writeKey === 'string' && b.writeKey) return b.writeKey;
  if (Array.isArray(b.batch)) {
    for (const e of b.batch) {
      const k = typeof e === 'object' && e !== null ? (e as { writeKey?: unknown }).writeKey : undefined;
      if (typeof k === 'string' && k) return k;
    }
  }
  return null;
}

/** Read routes: a secret key as Authorization: Bearer. */
export function secretKeyHook(keys: KeyResolver) {
  return async function secretKeyAuth(req: FastifyRequest, _reply: FastifyReply): Promise<void> {
    if (req.consoleKey) {
      req.apiKey = req.consoleKey; // the console, signed in with a secret key: the same reads
      return;
    }
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    if (!m) throw new SoluteError('SOL_ERR_AUTH_MISSING_BEARER');
    const resolved = keys.resolve(m[1]);
    if (!resolved) throw new SoluteError('SOL_ERR_AUTH_INVALID_KEY');
    if (resolved.kind !== 'secret') {
      throw new SoluteError('SOL_ERR_AUTH_WRONG_KEY_KIND', ['write keys (wk_) can only send events; read with a secret key (sk_)']);
    }
    req.apiKey = resolved;
  };
}
