// The OpenAPI document of the whole HTTP API, served without a key at GET /openapi.json. It is
// @fastify/swagger reading the routes' own `schema` options as they are registered, so a query
// parameter the document lists is the one Fastify validates; nothing is written twice.
import fs from 'node:fs';
import type { FastifyInstance, FastifySchema, FastifySchemaCompiler } from 'fastify';
import swagger from '@fastify/swagger';

export const OPENAPI_PATH = '/openapi.json';

/** Security requirements for route schemas; the schemes are declared in the document below. */
export const SECURITY = {
  write: [{ writeKey: [] }],
  secret: [{ secretKey: [] }],
  segment: [{ writeKey: [] }, { segmentBasic: [] }, { writeKeyQuery: [] }],
} as const;

/**
 * For routes whose body is checked by our own code (the ack path, for speed and per-event errors):
 * their `schema.body` is documentation only, and this validator accepts anything, so attaching it
 * changes nothing about how a body is checked.
 */
export const docsOnlyValidator: FastifySchemaCompiler<FastifySchema> = () => () => true;

function version(): string {
  try {
    // src/ingest and dist/ingest are both two levels below the package root.
    return (JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

/** Registers the document generator; routes must be declared after it, inside a plugin (see app.ts). */
export function registerOpenApi(app: FastifyInstance): void {
  app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Solute',
        version: version(),
        description: 'Event ingestion and queries. Errors are {success:false, code, message}; the codes are in docs/errors.md.',
      },
      components: {
        securitySchemes: {
          writeKey: { type: 'apiKey', in: 'header', name: 'X-Api-Key', description: 'a write key (wk_...): send events only' },
          secretKey: { type: 'http', scheme: 'bearer', description: 'a secret key (sk_...): read only' },
          segmentBasic: { type: 'http', scheme: 'basic', description: '/v1 only: the write key as the Basic user name' },
          writeKeyQuery: { type: 'apiKey', in: 'query', name: 'writeKey', description: '/v1 only: the write key in the query (beacons)' },
          consoleSession: {
            type: 'apiKey',
            in: 'cookie',
            name: 'solute_session',
            description: 'the console session (POST /api/console/session with a secret key); requests that change something also send X-Solute-Csrf',
          },
        },
      },
    },
  });
}

/** GET /openapi.json: the document, built once on first request (the routes are fixed by then). */
export function openApiRoute(app: FastifyInstance): void {
  let doc: string | null = null;
  app.get(OPENAPI_PATH, { schema: { summary: 'This OpenAPI document (no key needed)' } }, async (_req, reply) => {
    doc ??= JSON.stringify(app.swagger());
    return reply.type('application/json; charset=utf-8').send(doc);
  });
}
