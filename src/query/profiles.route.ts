// GET /api/profiles/{id}, GET /api/profiles, GET /api/groups/{id}: profiles and groups, with a secret key.
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { SoluteError } from '../errors.js';
import type { KeyResolver } from '../contracts/key-store.js';
import type { ProfileReader } from '../contracts/profiles.js';
import { secretKeyHook } from '../ingest/hooks/auth.hook.js';
import { SECURITY } from '../ingest/openapi.js';
import { refuseNonFinite } from './params.js';
import { warningList } from '../warnings.js';

const Id = Type.String({ minLength: 1, maxLength: 1024 });
const Cursor = Type.String({ maxLength: 2200 });

export const ProfileParams = Type.Object({ id: Id }, { additionalProperties: false });
export const ProfileQuery = Type.Object(
  { recent: Type.Optional(Type.Integer({ minimum: 0, maximum: 100, default: 10, description: 'How many of the latest events to include' })) },
  { additionalProperties: false },
);
export const ProfilesQuery = Type.Object(
  {
    trait: Type.Optional(Type.String({ minLength: 1, maxLength: 256, pattern: '^[^"\\\\]*$', description: 'Only profiles that have this trait (key; no `"` or `\\`)' })),
    value: Type.Optional(Type.String({ maxLength: 1024, description: 'With `trait`: only profiles whose trait equals this, as text (strings as themselves, numbers and booleans as JSON); needs `trait`' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50 })),
    cursor: Type.Optional(Cursor),
  },
  { additionalProperties: false },
);
export const GroupQuery = Type.Object(
  { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100, description: 'Members per page' })), cursor: Type.Optional(Cursor) },
  { additionalProperties: false },
);

function encode(key: string): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

function decode(cursor: string): string {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (typeof v === 'string') return v;
  } catch {
    // falls through to the error below
  }
  throw new SoluteError('SOL_ERR_QUERY_INVALID_PARAM', ['`cursor` is not a cursor this API returned']);
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function profileRoutes(app: FastifyInstance, deps: { profiles: ProfileReader; keys: KeyResolver }) {
  const onRequest = secretKeyHook(deps.keys);

  app.get<{ Params: Static<typeof ProfileParams>; Querystring: Static<typeof ProfileQuery> }>(
    '/api/profiles/:id',
    { onRequest, preHandler: refuseNonFinite, schema: { summary: 'A profile by userId or any linked anonymousId', security: SECURITY.secret, params: ProfileParams, querystring: ProfileQuery } },
    async (req) => {
      const p = await deps.profiles.profile(req.apiKey!.project, req.params.id, req.query.recent ?? 10);
      if (!p) throw new SoluteError('SOL_ERR_NOT_FOUND', [`no profile has the id ${JSON.stringify(req.params.id.slice(0, 100))}`]);
      return { ...p, firstSeen: iso(p.firstSeen), lastSeen: iso(p.lastSeen), warnings: warningList(p.warnings) };
    },
  );

  app.get<{ Querystring: Static<typeof ProfilesQuery> }>('/api/profiles', { onRequest, preHandler: refuseNonFinite, schema: { summary: 'List or search profiles by trait', security: SECURITY.secret, querystring: ProfilesQuery } }, async (req) => {
    const q = req.query;
    if (q.value !== undefined && q.trait === undefined) {
      throw new SoluteError('SOL_ERR_QUERY_INVALID_PARAM', ['`value` needs `trait`: the trait whose value to match']);
    }
    const page = await deps.profiles.profiles(req.apiKey!.project, {
      trait: q.trait !== undefined ? { key: q.trait, value: q.value } : undefined,
      limit: q.limit ?? 50,
      after: q.cursor !== undefined ? decode(q.cursor) : undefined,
    });
    return { profiles: page.profiles, nextCursor: page.next === null ? null : encode(page.next) };
  });

  app.get<{ Params: Static<typeof ProfileParams>; Querystring: Static<typeof GroupQuery> }>(
    '/api/groups/:id',
    { onRequest, preHandler: refuseNonFinite, schema: { summary: 'A group, its traits and members', security: SECURITY.secret, params: ProfileParams, querystring: GroupQuery } },
    async (req) => {
      const g = await deps.profiles.group(req.apiKey!.project, req.params.id, {
        limit: req.query.limit ?? 100,
        after: req.query.cursor !== undefined ? decode(req.query.cursor) : undefined,
      });
      if (!g) throw new SoluteError('SOL_ERR_NOT_FOUND', [`no group has the id ${JSON.stringify(req.params.id.slice(0, 100))}`]);
      return {
        groupId: g.groupId,
        traits: g.traits,
        memberCount: g.memberCount,
        members: g.members.map((m) => ({ id: m.id, since: iso(m.since) })),
        nextCursor: g.nextMember === null ? null : encode(g.nextMember),
        warnings: warningList(g.warnings),
      };
    },
  );
}
