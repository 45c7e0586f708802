// Console sign-in: a secret key is exchanged once for a session; the browser then holds only an
// HttpOnly, SameSite=Strict cookie with a random token (the key is never stored in the browser, the
// token never on the server: SessionStore keeps SHA-256 of both). A session is valid while it has
// not expired and its key is still an active secret key, checked on every request by the store
// (one query joining the session to api_keys), so revoking the key ends its sessions at once.
//
// CSRF: the cookie is SameSite=Strict (no cross-site request carries it); requests that change
// something (sign-out, dead-letter replay) must also carry X-Solute-Csrf, a value derived from the
// token that only the console's own script can read (GET /api/console/session), and are refused when
// the browser says they come from another site (Sec-Fetch-Site). Sign-in takes application/json only
// (a cross-site form cannot send it without a CORS preflight, which these routes never allow).
import crypto from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { SoluteError } from '../errors.js';
import type { KeyResolver, ResolvedKey } from '../contracts/key-store.js';
import type { SessionStore } from '../contracts/console.js';
import { hashKey } from '../auth/api-key.js';

export const COOKIE = 'solute_session';
export const CSRF_HEADER = 'x-solute-csrf';

declare module 'fastify' {
  interface FastifyRequest {
    /** The console session of this request (SHA-256 of its token), once a session hook accepted it. */
    consoleSession?: { tokenHash: Buffer; token: string; key: ResolvedKey };
  }
}

/** The token from the Cookie header, or null. Tokens are 43 base64url characters. */
export function sessionToken(req: FastifyRequest): string | null {
  const header = req.headers.cookie;
  if (header === undefined) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1 || part.slice(0, eq).trim() !== COOKIE) continue;
    const v = part.slice(eq + 1).trim();
    return /^[A-Za-z0-9_-]{43}$/.test(v) ? v : null;
  }
  return null;
}

const tokenHash = (token: string) => crypto.createHash('sha256').update(token).digest();
/** The CSRF value of a session: the console script reads it from GET /api/console/session; another site cannot. */
export const csrfOf = (token: string) => crypto.createHash('sha256').update(`csrf:${token}`).digest('base64url');

/** Resolves the request's session cookie, or throws 401 when there is none or it is no longer valid. */
async function resolveSession(req: FastifyRequest, sessions: SessionStore): Promise<void> {
  if (req.consoleSession) return;
  const token = sessionToken(req);
  if (token === null) throw new SoluteError('SOL_ERR_AUTH_SESSION_REQUIRED', ['sign in to the console first (no session)']);
  const hash = tokenHash(token);
  const key = await sessions.find(hash, Date.now());
  if (key === null) {
    throw new SoluteError('SOL_ERR_AUTH_SESSION_REQUIRED', ['the console session ended (signed out, expired, or its key was revoked): sign in again']);
  }
  req.consoleSession = { tokenHash: hash, token, key: { project: key.project, kind: 'secret', prefix: key.prefix, allowedOrigins: [], rateLimit: null } };
}

/**
 * On every GET under /api/ that carries the session cookie and no Authorization header: the session
 * stands for its secret key, so the read routes (whose secretKeyHook accepts `consoleKey`) serve the
 * console without it holding the key. Anything else (every POST, ingest included) costs one compare.
 */
export function sessionReadHook(sessions: SessionStore) {
  return async function consoleSessionRead(req: FastifyRequest, _reply: FastifyReply): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') return;
    if (req.headers.authorization !== undefined || req.headers.cookie === undefined) return;
    const route = req.routeOptions.url;
    if (route === undefined || !route.startsWith('/api/') || sessionToken(req) === null) return;
    await resolveSession(req, sessions);
    req.consoleKey = req.consoleSession!.key;
  };
}

/** Routes only a console session may call: a key in Authorization is refused with a message saying so. */
export function requireSession(sessions: SessionStore, what: string) {
  return async function consoleSessionOnly(req: FastifyRequest, _reply: FastifyReply): Promise<void> {
    if (req.headers.authorization !== undefined) {
      throw new SoluteError('SOL_ERR_AUTH_SESSION_REQUIRED', [`${what} only from a console session (sign in at /); keys are not accepted here`]);
    }
    await resolveSession(req, sessions);
    if (req.method !== 'GET' && req.method !== 'HEAD') checkCsrf(req);
  };
}

/** Refuses a state-changing request that another site could have made. */
function checkCsrf(req: FastifyRequest): void {
  crossSite(req);
  const sent = req.headers[CSRF_HEADER];
  const expected = csrfOf(req.consoleSession!.token);
  if (typeof sent !== 'string' || sent.length !== expected.length || !crypto.timingSafeEqual(Buffer.from(sent), Buffer.from(expected))) {
    throw new SoluteError('SOL_ERR_AUTH_CSRF', [`missing or wrong ${CSRF_HEADER} header`]);
  }
}

function crossSite(req: FastifyRequest): void {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin') throw new SoluteError('SOL_ERR_AUTH_CSRF', [`a ${site} request`]);
}

const SignIn = Type.Object({ key: Type.String({ minLength: 1, maxLength: 200, description: 'a secret key (sk_...)' }) }, { additionalProperties: false });
const SessionAnswer = Type.Object({
  project: Type.String(),
  keyPrefix: Type.String({ description: 'the prefix of the secret key the session was opened with' }),
  expiresAt: Type.String({ format: 'date-time' }),
  csrfToken: Type.String({ description: `send it as ${CSRF_HEADER} on requests that change something` }),
});

export interface SessionRouteDeps {
  keys: KeyResolver;
  sessions: SessionStore;
  /** Session lifetime (ms). */
  lifetimeMs: number;
}

const CONSOLE_SECURITY = [{ consoleSession: [] }];

export function sessionRoutes(app: FastifyInstance, deps: SessionRouteDeps): void {
  const answer = (token: string, key: ResolvedKey, expiresAt: number) => ({
    project: key.project,
    keyPrefix: key.prefix,
    expiresAt: new Date(expiresAt).toISOString(),
    csrfToken: csrfOf(token),
  });

  app.post<{ Body: Static<typeof SignIn> }>(
    '/api/console/session',
    { schema: { summary: 'Console sign-in: exchanges a secret key for a session cookie', body: SignIn, response: { 200: SessionAnswer } } },
    async (req, reply) => {
      crossSite(req);
      const key = deps.keys.resolve(req.body.key);
      if (key === null) throw new SoluteError('SOL_ERR_AUTH_INVALID_KEY');
      if (key.kind !== 'secret') {
        throw new SoluteError('SOL_ERR_AUTH_WRONG_KEY_KIND', ['write keys (wk_) can only send events; sign in to the console with a secret key (sk_)']);
      }
      const token = crypto.randomBytes(32).toString('base64url');
      const expiresAt = Date.now() + deps.lifetimeMs;
      await deps.sessions.create(tokenHash(token), hashKey(req.body.key), expiresAt);
      reply.header('set-cookie', cookie(req, token, Math.floor(deps.lifetimeMs / 1000)));
      return answer(token, key, expiresAt);
    },
  );

  app.get(
    '/api/console/session',
    { onRequest: requireSession(deps.sessions, 'the session is read'), schema: { summary: 'The current console session', security: CONSOLE_SECURITY, response: { 200: SessionAnswer } } },
    async (req) => {
      const s = req.consoleSession!;
      const found = await deps.sessions.find(s.tokenHash, Date.now());
      return answer(s.token, s.key, found?.expiresAt ?? Date.now());
    },
  );

  app.delete(
    '/api/console/session',
    { onRequest: requireSession(deps.sessions, 'sign-out works'), schema: { summary: 'Console sign-out: ends the session', security: CONSOLE_SECURITY } },
    async (req, reply) => {
      await deps.sessions.delete(req.consoleSession!.tokenHash);
      reply.header('set-cookie', cookie(req, '', 0));
      return reply.code(204).send();
    },
  );
}

export { CONSOLE_SECURITY };

/** Secure when the request came over HTTPS (directly, or through a trusted proxy's X-Forwarded-Proto). */
function cookie(req: FastifyRequest, value: string, maxAgeSeconds: number): string {
  return `${COOKIE}=${value}; Path=/; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Strict${req.protocol === 'https' ? '; Secure' : ''}`;
}
