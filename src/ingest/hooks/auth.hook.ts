// Resolves the caller's key before the body is read, so a bad key costs no parsing.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { SoluteError } from '../../errors.js';
import type { KeyResolver, ResolvedKey } from '../../contracts/key-store.js';

declare module 'fastify' {
  interface FastifyRequest {
    apiKey?: ResolvedKey;
  }
}

/** Ingest routes: a write key in X-Api-Key. */
export function writeKeyHook(keys: KeyResolver) {
  return async function writeKeyAuth(req: FastifyRequest, _reply: FastifyReply): Promise<void> {
    const header = req.headers['x-api-key'];
    const key = Array.isArray(header) ? header[0] : header;
    if (!key) throw new SoluteError('SOL_ERR_AUTH_MISSING_KEY');
    const resolved = keys.resolve(key);
    if (!resolved) throw new SoluteError('SOL_ERR_AUTH_INVALID_KEY');
    if (resolved.kind !== 'write') {
      throw new SoluteError('SOL_ERR_AUTH_WRONG_KEY_KIND', ['secret keys (sk_) can only read; send events with a write key (wk_)']);
    }
    req.apiKey = resolved;
  };
}

/** Read routes: a secret key as Authorization: Bearer. */
export function secretKeyHook(keys: KeyResolver) {
  return async function secretKeyAuth(req: FastifyRequest, _reply: FastifyReply): Promise<void> {
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
