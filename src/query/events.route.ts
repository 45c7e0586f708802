// GET /api/events: read stored events, newest first, with a secret key.
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { SoluteError } from '../errors.js';
import type { EventStore } from '../contracts/event-store.js';
import type { KeyResolver } from '../contracts/key-store.js';
import { secretKeyHook } from '../ingest/hooks/auth.hook.js';
import { ALL_EVENT_TYPES } from '../ingest/check/event.schema.js';
import { SECURITY } from '../ingest/openapi.js';
import { refuseNonFinite } from './params.js';

const NonEmpty = Type.String({ minLength: 1, maxLength: 1024 });
export const EventsQuery = Type.Object(
  {
    type: Type.Optional(Type.Unsafe<string>({ type: 'string', enum: [...ALL_EVENT_TYPES] })),
    event: Type.Optional(NonEmpty),
    userId: Type.Optional(NonEmpty),
    anonymousId: Type.Optional(NonEmpty),
    messageId: Type.Optional(NonEmpty),
    from: Type.Optional(Type.String({ format: 'date-time' })),
    to: Type.Optional(Type.String({ format: 'date-time' })),
    // Optional with a default (Ajv fills it in): a client may leave it out, and the document says so.
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);
type EventsQuery = Static<typeof EventsQuery>;

export function encodeCursor(c: { t: number; s: number }): string {
  return Buffer.from(JSON.stringify([c.t, c.s])).toString('base64url');
}

function decodeCursor(s: string): { t: number; s: number } {
  try {
    const v = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v.length === 2 && v.every((n) => Number.isSafeInteger(n))) return { t: v[0], s: v[1] };
  } catch {
    // falls through to the error below
  }
  throw new SoluteError('SOL_ERR_QUERY_INVALID_PARAM', ['`cursor` is not a cursor this API returned']);
}

/** Epoch ms of a from/to bound. The schema checks the format; a leap second (23:59:60) passes it but no Date holds it. */
export function parseBound(name: 'from' | 'to', value: string): number {
  const ms = Date.parse(value);
  if (!Number.isFinite(ms)) throw new SoluteError('SOL_ERR_QUERY_INVALID_PARAM', [`\`${name}\` is not a date-time this server can represent`]);
  return ms;
}

export function queryEventsRoute(app: FastifyInstance, deps: { store: Pick<EventStore, 'queryEvents'>; keys: KeyResolver }) {
  app.get<{ Querystring: EventsQuery }>(
    '/api/events',
    { onRequest: secretKeyHook(deps.keys), preHandler: refuseNonFinite, schema: { summary: 'Stored events, newest first', security: SECURITY.secret, querystring: EventsQuery } },
    async (req) => {
      const q = req.query;
      const page = await deps.store.queryEvents(req.apiKey!.project, {
        type: q.type,
        event: q.event,
        userId: q.userId,
        anonymousId: q.anonymousId,
        messageId: q.messageId,
        from: q.from === undefined ? undefined : parseBound('from', q.from),
        to: q.to === undefined ? undefined : parseBound('to', q.to),
        limit: q.limit!, // the schema's default fills it in
        cursor: q.cursor === undefined ? undefined : decodeCursor(q.cursor),
      });
      return { events: page.events, nextCursor: page.next ? encodeCursor(page.next) : null };
    },
  );
}
