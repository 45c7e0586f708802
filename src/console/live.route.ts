// GET /api/console/live: the live view's Server-Sent Events stream (same origin, the session cookie).
// Messages: `events` (a JSON array of {id, duplicate, event}, with an `id:` to resume from),
// `dropped` ({count}: events not sent because this viewer or the server's queue was too slow),
// `gap` (after a reconnect, when events could not be replayed), `signedout` (the session ended).
// Comment lines are heartbeats. The stream only sees what this process acknowledges.
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { SoluteError } from '../errors.js';
import type { SessionStore } from '../contracts/console.js';
import { ALL_EVENT_TYPES } from '../ingest/check/event.schema.js';
import type { LiveFeed, LiveFilter } from './live-feed.js';
import { CONSOLE_SECURITY, requireSession } from './session.js';

const LiveQuery = Type.Object(
  {
    type: Type.Optional(Type.Unsafe<string>({ type: 'string', enum: [...ALL_EVENT_TYPES], description: 'only events of this type' })),
    event: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: 'only events with this name' })),
    user: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: 'only events whose userId or anonymousId is this' })),
  },
  { additionalProperties: false },
);

export function liveRoute(app: FastifyInstance, deps: { live: LiveFeed; sessions: SessionStore; maxSubscribers: number }): void {
  app.get<{ Querystring: Static<typeof LiveQuery> }>(
    '/api/console/live',
    {
      exposeHeadRoute: false, // a HEAD would hold a stream open with nothing to read
      onRequest: requireSession(deps.sessions, 'the live view streams'),
      schema: {
        summary: 'Live events: a Server-Sent Events stream of the events this process acknowledges (console session only)',
        security: CONSOLE_SECURITY,
        querystring: LiveQuery,
        response: {
          200: {
            description: 'Server-Sent Events: `events` (a JSON array of {id, duplicate, event}), `dropped`, `gap`, `signedout`; comment lines are heartbeats',
            content: { 'text/event-stream': { schema: { type: 'string' } } },
          },
        },
      },
    },
    async (req, reply) => {
      if (deps.live.subscribers >= deps.maxSubscribers) throw new SoluteError('SOL_ERR_CONSOLE_BUSY', [deps.maxSubscribers]);
      const filter: LiveFilter = {};
      if (req.query.type !== undefined) filter.type = req.query.type;
      if (req.query.event !== undefined) filter.event = req.query.event;
      if (req.query.user !== undefined) filter.user = req.query.user;
      const last = req.headers['last-event-id'];
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        'x-accel-buffering': 'no', // nginx: pass each message on at once
        'x-content-type-options': 'nosniff',
      });
      req.raw.socket.setNoDelay(true);
      const sink = {
        write: (text: string) => void res.write(text),
        buffered: () => res.writableLength,
        end: () => res.end(),
      };
      const sub = deps.live.subscribe(req.consoleSession!.key.project, filter, req.consoleSession!.tokenHash, sink, typeof last === 'string' ? last : undefined);
      if (sub === null) {
        res.end('event: gap\ndata: {"reason":"busy"}\n\n');
        return;
      }
      res.on('close', () => deps.live.unsubscribe(sub));
    },
  );
}
