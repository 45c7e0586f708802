// The operator's channel into a running server: a Unix socket in the data directory (mode 0600, so
// whoever may read the data may use it; nothing listens on the network). bin/solute uses it for
// what only the process that holds the store may do, such as replaying dead letters: DuckDB has a
// single writer, so the CLI cannot open the store while the server runs.
import fs from 'node:fs/promises';
import http from 'node:http';
import Fastify, { type FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { Logger } from 'pino';
import type { DeadLetter, DeadLetterFilter, ReplayResult } from '../contracts/event-store.js';

/** What the admin channel can do; main.ts wires it to the store and the processor. */
export interface AdminOps {
  deadLetters(filter: DeadLetterFilter): Promise<DeadLetter[]>;
  /** Replays the given dead letters, or all of them (of a project) when ids is absent. */
  replay(req: { ids?: number[]; project?: string }): Promise<ReplayResult>;
}

/** Sun paths are limited to 107 bytes on Linux; past that the socket is not opened. */
export const MAX_SOCKET_PATH = 100;

const ListQuery = Type.Object(
  {
    project: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    limit: Type.Integer({ minimum: 1, maximum: 10_000, default: 100 }),
    after: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
const ReplayBody = Type.Object(
  {
    ids: Type.Optional(Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1, maxItems: 100_000 })),
    project: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    all: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export async function startAdminServer(socketPath: string, ops: AdminOps, logger: Logger): Promise<FastifyInstance | null> {
  if (socketPath.length > MAX_SOCKET_PATH) {
    logger.warn({ socketPath }, 'data directory path too long for the admin socket; bin/solute dead-letters needs the server stopped');
    return null;
  }
  const app = Fastify({ logger: false });
  app.get<{ Querystring: Static<typeof ListQuery> }>('/dead-letters', { schema: { querystring: ListQuery } }, async (req) => ({
    deadLetters: await ops.deadLetters({ project: req.query.project, limit: req.query.limit, afterId: req.query.after }),
  }));
  app.post<{ Body: Static<typeof ReplayBody> }>('/dead-letters/replay', { schema: { body: ReplayBody } }, async (req, reply) => {
    const b = req.body;
    if ((b.ids === undefined) === (b.all !== true)) return reply.code(400).send({ message: 'give either ids or all: true' });
    return ops.replay({ ids: b.ids, project: b.project });
  });
  app.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
    const status = err.statusCode && err.statusCode < 500 ? err.statusCode : 500;
    if (status >= 500) logger.error({ err }, 'admin request failed');
    return reply.code(status).send({ message: err.message });
  });
  // A socket file left by a crash: this process holds the data directory (the store's lock), so it is stale.
  await fs.rm(socketPath, { force: true });
  await app.listen({ path: socketPath });
  await fs.chmod(socketPath, 0o600);
  return app;
}

/** The CLI's side: one JSON request over the socket; null when no server listens there. */
export function adminRequest(socketPath: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: any } | null> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      { socketPath, method, path, headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {} },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : null }));
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') resolve(null);
      else reject(err);
    });
    if (payload) req.write(payload);
    req.end();
  });
}
