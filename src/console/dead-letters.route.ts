// GET /api/dead-letters and POST /api/dead-letters/replay: the console's view of the events processing
// could not store, and their replay. Only a console session may call them (a documented exception to
// "secret keys are read-only": a replay writes, and a secret key alone must stay read-only); the
// operator's other way is bin/solute dead-letters. Scoped to the session's project: dead letters whose
// project is unknown (a line that could not be parsed) are for the CLI.
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { SoluteError } from '../errors.js';
import type { SessionStore } from '../contracts/console.js';
import type { DeadLetterOps } from '../process/dead-letter-ops.js';
import { CONSOLE_SECURITY, requireSession } from './session.js';

const ListQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
    after: Type.Optional(Type.Integer({ minimum: 0, description: 'only dead letters with a higher id (the previous page\'s `next`)' })),
  },
  { additionalProperties: false },
);
const ReplayBody = Type.Object(
  {
    ids: Type.Optional(Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1, maxItems: 1000, description: 'dead letters to replay' })),
    all: Type.Optional(Type.Boolean({ description: "true: every dead letter of the session's project" })),
  },
  { additionalProperties: false },
);

export function deadLetterRoutes(app: FastifyInstance, deps: { ops: DeadLetterOps; sessions: SessionStore }): void {
  const onRequest = requireSession(deps.sessions, 'dead letters are listed and replayed');

  app.get<{ Querystring: Static<typeof ListQuery> }>(
    '/api/dead-letters',
    { onRequest, schema: { summary: "Dead letters of the session's project, oldest first (console session only)", security: CONSOLE_SECURITY, querystring: ListQuery } },
    async (req) => {
      const limit = req.query.limit ?? 100;
      const page = await deps.ops.deadLetters({ project: req.consoleSession!.key.project, limit, afterId: req.query.after });
      return {
        deadLetters: page.map((d) => ({
          id: d.id,
          step: d.step,
          reason: d.reason,
          createdAt: d.createdAt,
          attempts: d.attempts,
          event: eventOf(d.raw),
          raw: d.raw,
        })),
        next: page.length === limit ? page.at(-1)!.id : null,
      };
    },
  );

  app.post<{ Body: Static<typeof ReplayBody> }>(
    '/api/dead-letters/replay',
    { onRequest, schema: { summary: 'Replays dead letters through the processing steps (console session only)', security: CONSOLE_SECURITY, body: ReplayBody } },
    async (req) => {
      const b = req.body;
      if ((b.ids === undefined) === (b.all !== true)) throw new SoluteError('SOL_ERR_BAD_REQUEST', ['give either `ids` or `all: true`']);
      return deps.ops.replay({ ids: b.ids, project: req.consoleSession!.key.project });
    },
  );
}

/** The event inside a dead letter's log line, when the line parses. */
function eventOf(raw: string): unknown {
  try {
    const line = JSON.parse(raw) as { e?: unknown };
    return line.e ?? null;
  } catch {
    return null;
  }
}
