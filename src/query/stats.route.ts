// GET /api/stats/events (counts per hour or day, in a time zone), GET /api/stats/top-events,
// GET /api/stats/top-pages, GET /api/stats/funnel and GET /api/stats/retention, with a secret key. The query schemas below are what Fastify validates with (unknown parameters
// included: additionalProperties false) and what /openapi.json shows.
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { SoluteError } from '../errors.js';
import type { KeyResolver } from '../contracts/key-store.js';
import type { BucketCount, FunnelStep, PropertyFilter, StatsStore } from '../contracts/stats-store.js';
import { secretKeyHook } from '../ingest/hooks/auth.hook.js';
import { ALL_EVENT_TYPES } from '../ingest/check/event.schema.js';
import { parseBound } from './events.route.js';
import { SECURITY } from '../ingest/openapi.js';
import { refuseNonFinite } from './params.js';
import { DAY_MS, bucketsOf, canonicalTimeZone, dayStart, formatInZone, offsetSpans } from './time-zone.js';

/** Longest range per interval: a year of days (a leap year's 366), a month of hours. */
export const MAX_RANGE_DAYS = { day: 366, hour: 31 } as const;

const DateTime = (what: string) => Type.String({ format: 'date-time', description: `${what}, ISO 8601 with a zone (e.g. 2025-01-15T00:00:00Z)` });

export const StatsEventsQuery = Type.Object(
  {
    event: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: 'only events with this name' })),
    type: Type.Optional(Type.Unsafe<string>({ type: 'string', enum: [...ALL_EVENT_TYPES], description: 'only events of this type' })),
    from: DateTime('start of the range, inclusive'),
    to: DateTime('end of the range, exclusive'),
    // Optional with defaults, which Ajv fills in before the handler runs.
    interval: Type.Optional(Type.Unsafe<'hour' | 'day'>({ type: 'string', enum: ['hour', 'day'], default: 'day', description: 'bucket width, in local time of `tz`' })),
    tz: Type.Optional(Type.String({ minLength: 1, maxLength: 64, default: 'UTC', description: 'IANA time zone of the buckets, e.g. Europe/Berlin' })),
    where: Type.Optional(
      Type.String({
        minLength: 2,
        maxLength: 8192,
        description: 'only events whose properties match: a JSON filter {"property": key of properties, "equals": string, number or boolean}, or an array of up to 5 (all must hold)',
        examples: ['{"property":"plan","equals":"pro"}'],
      }),
    ),
    breakdown: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'also split the counts by this key of properties: its most frequent values, then all other events' })),
    breakdownLimit: Type.Optional(Type.Integer({ minimum: 1, maximum: 20, default: 5, description: 'how many values the breakdown lists before "other"' })),
  },
  { additionalProperties: false },
);
type StatsEventsQuery = Static<typeof StatsEventsQuery>;

const topQuery = (what: string) =>
  Type.Object(
    {
      from: DateTime('start of the range, inclusive'),
      to: DateTime('end of the range, exclusive'),
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 10, description: `how many ${what}` })),
    },
    { additionalProperties: false },
  );
export const TopEventsQuery = topQuery('event names');
type TopEventsQuery = Static<typeof TopEventsQuery>;
export const TopPagesQuery = topQuery('paths');

const Figures = { count: Type.Number({ description: 'events' }), users: Type.Number({ description: 'distinct userId, else anonymousId, as sent' }) };
const Bucket = Type.Object({ start: Type.String({ format: 'date-time', description: 'first instant of the bucket, with the zone offset' }), ...Figures });
const Scalar = Type.Union([Type.String(), Type.Number(), Type.Boolean()]);
const StatsEventsAnswer = Type.Object({
  interval: Type.String(),
  tz: Type.String(),
  event: Type.Union([Type.String(), Type.Null()]),
  type: Type.Union([Type.String(), Type.Null()]),
  where: Type.Array(Type.Object({ property: Type.String(), equals: Scalar }), { description: 'the filters applied ([] when none)' }),
  from: Type.String({ format: 'date-time' }),
  to: Type.String({ format: 'date-time' }),
  buckets: Type.Array(Bucket),
  total: Type.Object(Figures),
  breakdown: Type.Optional(
    Type.Object({
      property: Type.String(),
      limit: Type.Integer(),
      series: Type.Array(
        Type.Object({
          value: Type.Union([Scalar, Type.Null()], { description: 'the property value; null for the "other" series' }),
          other: Type.Boolean({ description: 'true for the last series: every event outside the values listed (other values, no value, null, objects, arrays)' }),
          buckets: Type.Array(Bucket),
          total: Type.Object(Figures),
        }),
      ),
    }),
  ),
});
const TopEventsAnswer = Type.Object({
  from: Type.String({ format: 'date-time' }),
  to: Type.String({ format: 'date-time' }),
  events: Type.Array(Type.Object({ event: Type.String(), ...Figures })),
});

const TopPagesAnswer = Type.Object({
  from: Type.String({ format: 'date-time' }),
  to: Type.String({ format: 'date-time' }),
  pages: Type.Array(
    Type.Object({
      path: Type.String({ description: 'context.page.path of `page` events' }),
      count: Type.Number({ description: 'page views: `page` events with this path' }),
      users: Figures.users,
    }),
  ),
});

/** Longest conversion window of a funnel, and its default (PostHog's). */
export const FUNNEL_MAX_WINDOW_SECONDS = 90 * 86_400;
const FUNNEL_DEFAULT_WINDOW_SECONDS = 14 * 86_400;

export const FunnelQuerySchema = Type.Object(
  {
    steps: Type.String({
      minLength: 2,
      maxLength: 8192,
      description:
        'the steps, in order, as a JSON array of 2 to 5 objects: {"event": name} or {"event": name, "where": {"property": key of properties, "equals": string, number or boolean}}',
      examples: ['[{"event":"Signed Up"},{"event":"Order Completed","where":{"property":"plan","equals":"pro"}}]'],
    }),
    from: DateTime('start of the range of the first step, inclusive'),
    to: DateTime('end of the range of the first step, exclusive'),
    windowSeconds: Type.Optional(
      Type.Integer({ minimum: 1, maximum: FUNNEL_MAX_WINDOW_SECONDS, default: FUNNEL_DEFAULT_WINDOW_SECONDS, description: 'each later step within this long of the first (seconds; default 14 days)' }),
    ),
  },
  { additionalProperties: false },
);
type FunnelQuerySchema = Static<typeof FunnelQuerySchema>;

const FunnelAnswer = Type.Object({
  from: Type.String({ format: 'date-time' }),
  to: Type.String({ format: 'date-time' }),
  windowSeconds: Type.Integer(),
  steps: Type.Array(
    Type.Object({
      event: Type.String(),
      where: Type.Union([Type.Object({ property: Type.String(), equals: Type.Union([Type.String(), Type.Number(), Type.Boolean()]) }), Type.Null()]),
      users: Type.Number({ description: 'distinct userId, else anonymousId, who reached this step' }),
      conversion: Type.Union([Type.Number(), Type.Null()], { description: 'users / the previous step\'s users (null for the first step, or when the previous step has none)' }),
    }),
  ),
});

/** The `steps` parameter, checked: 2 to 5 steps, each an event name and at most one property filter. */
function parseSteps(text: string): FunnelStep[] {
  const bad = (why: string) => new SoluteError('SOL_ERR_QUERY_INVALID_PARAM', [`\`steps\` ${why}`]);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw bad('must be a JSON array, e.g. [{"event":"Signed Up"},{"event":"Order Completed"}]');
  }
  if (!Array.isArray(v) || v.length < 2 || v.length > 5) throw bad('must be a JSON array of 2 to 5 steps');
  return v.map((step: unknown, i): FunnelStep => {
    const at = `step ${i + 1}`;
    if (typeof step !== 'object' || step === null || Array.isArray(step)) throw bad(`${at} must be an object with "event"`);
    const { event, where, ...rest } = step as Record<string, unknown>;
    if (Object.keys(rest).length > 0) throw bad(`${at} has an unknown key "${Object.keys(rest)[0].slice(0, 64)}" (allowed: event, where)`);
    if (typeof event !== 'string' || event.length === 0 || event.length > 1024) throw bad(`${at}: "event" must be a string of 1 to 1024 characters`);
    if (where === undefined) return { event };
    return { event, where: parseFilter(where, (why) => bad(`${at}: ${why}`)) };
  });
}

/** One property filter, checked: {"property": key, "equals": string, number or boolean}. */
function parseFilter(where: unknown, bad: (why: string) => Error): PropertyFilter {
  if (typeof where !== 'object' || where === null || Array.isArray(where)) throw bad('"where" must be {"property": ..., "equals": ...}');
  const { property, equals, ...more } = where as Record<string, unknown>;
  if (Object.keys(more).length > 0) throw bad(`"where" has an unknown key "${Object.keys(more)[0].slice(0, 64)}" (allowed: property, equals)`);
  if (typeof property !== 'string' || property.length === 0 || property.length > 256) throw bad('"where.property" must be a string of 1 to 256 characters');
  if (!(typeof equals === 'string' || typeof equals === 'boolean' || (typeof equals === 'number' && Number.isFinite(equals)))) {
    throw bad('"where.equals" must be a string, a number or a boolean');
  }
  return { property, equals };
}

/** The `where` parameter of the counts: one filter or a JSON array of up to 5, all to hold. */
function parseWhere(text: string): PropertyFilter[] {
  const bad = (why: string) => new SoluteError('SOL_ERR_QUERY_INVALID_PARAM', [`\`where\` ${why.replace(/^"where" /, '')}`]);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw bad('must be JSON, e.g. {"property":"plan","equals":"pro"} or an array of such filters');
  }
  const list = Array.isArray(v) ? v : [v];
  if (list.length < 1 || list.length > 5) throw bad('must hold 1 to 5 filters');
  return list.map((f, i) => parseFilter(f, (why) => bad(list.length > 1 ? `filter ${i + 1}: ${why}` : why)));
}

export const RetentionQuerySchema = Type.Object(
  {
    startEvent: Type.String({ minLength: 1, maxLength: 1024, description: 'the event that puts a user in the cohort of its period' }),
    returnEvent: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: 'the event that counts as coming back (default: startEvent)' })),
    from: DateTime('start of the cohorts\' range, inclusive'),
    to: DateTime('end of the cohorts\' range, exclusive'),
    period: Type.Optional(Type.Unsafe<'day' | 'week'>({ type: 'string', enum: ['day', 'week'], default: 'day', description: 'cohort and return period, in local time of `tz` (weeks start on Monday)' })),
    periods: Type.Optional(Type.Integer({ minimum: 1, maximum: 52, default: 7, description: 'how many periods after the cohort\'s are counted' })),
    tz: Type.Optional(Type.String({ minLength: 1, maxLength: 64, default: 'UTC', description: 'IANA time zone of the periods, e.g. Europe/Berlin' })),
  },
  { additionalProperties: false },
);
type RetentionQuerySchema = Static<typeof RetentionQuerySchema>;

const RetentionAnswer = Type.Object({
  startEvent: Type.String(),
  returnEvent: Type.String(),
  period: Type.String(),
  periods: Type.Integer(),
  tz: Type.String(),
  from: Type.String({ format: 'date-time' }),
  to: Type.String({ format: 'date-time' }),
  cohorts: Type.Array(
    Type.Object({
      start: Type.String({ format: 'date-time', description: 'first instant of the cohort\'s period, with the zone offset' }),
      users: Type.Number({ description: 'distinct userId, else anonymousId, with startEvent in the period (and the range)' }),
      returned: Type.Array(Type.Number(), { description: 'returned[k-1]: those of them with returnEvent in the k-th period after' }),
      retention: Type.Array(Type.Union([Type.Number(), Type.Null()]), { description: 'returned / users (null for an empty cohort)' }),
    }),
  ),
});

/** A 400 naming `tz` when Intl does not know the zone. */
function checkTimeZone(tz: string): void {
  if (canonicalTimeZone(tz) === null) {
    throw new SoluteError('SOL_ERR_QUERY_INVALID_PARAM', [`\`tz\` ${JSON.stringify(tz.slice(0, 64))} is not an IANA time zone (e.g. UTC, Europe/Berlin, America/New_York)`]);
  }
}

/** [from, to) in epoch ms, or a 400 naming what is wrong. */
function range(q: { from: string; to: string }, maxDays: number | null, why = ''): { from: number; to: number } {
  const from = parseBound('from', q.from);
  const to = parseBound('to', q.to);
  if (from >= to) throw new SoluteError('SOL_ERR_QUERY_INVALID_PARAM', ['`from` must be before `to`']);
  if (maxDays !== null && to - from > maxDays * DAY_MS) {
    const days = ((to - from) / DAY_MS).toFixed(1);
    throw new SoluteError('SOL_ERR_QUERY_INVALID_PARAM', [`\`from\`..\`to\` spans ${days} days; the most is ${maxDays} days${why}`]);
  }
  return { from, to };
}

export function statsRoutes(app: FastifyInstance, deps: { stats: StatsStore; keys: KeyResolver }) {
  const auth = secretKeyHook(deps.keys);

  app.get<{ Querystring: StatsEventsQuery }>(
    '/api/stats/events',
    { onRequest: auth, preHandler: refuseNonFinite, schema: { summary: 'Event counts and distinct users per hour or day', security: SECURITY.secret, querystring: StatsEventsQuery, response: { 200: StatsEventsAnswer } } },
    async (req) => {
      const q = req.query as Required<StatsEventsQuery>; // the schema's defaults fill interval and tz in
      // Echoed as sent: Intl's canonical names are sometimes the legacy ones (Asia/Kolkata -> Asia/Calcutta).
      const tz = q.tz;
      checkTimeZone(tz);
      const why = q.interval === 'hour' ? ' with interval=hour (use interval=day for longer ranges)' : ' with interval=day';
      const { from, to } = range(q, MAX_RANGE_DAYS[q.interval], why);
      const spans = offsetSpans(tz, from, to);
      const where = q.where === undefined ? [] : parseWhere(q.where);
      const breakdown = q.breakdown === undefined ? undefined : { property: q.breakdown, limit: q.breakdownLimit };
      const result = await deps.stats.countEvents(req.apiKey!.project, { from, to, event: q.event, type: q.type, interval: q.interval, spans, where, breakdown });
      const all = bucketsOf(q.interval, spans, from, to);
      /** Every bucket of the range, in order, with the store's figures (0 where it has none). */
      const listed = (found: readonly BucketCount[]) => {
        const byKey = new Map(found.map((b) => [b.key, b]));
        const out = all.map((b) => {
          const hit = byKey.get(b.key);
          byKey.delete(b.key);
          return { start: formatInZone(tz, b.start), count: hit?.count ?? 0, users: hit?.users ?? 0 };
        });
        // Every stored row must land in a bucket listed here: anything left is a bug, not a figure to drop.
        if (byKey.size > 0) throw new Error(`stats: ${byKey.size} bucket keys outside the computed buckets (${[...byKey.keys()].slice(0, 3).join(', ')})`);
        return out;
      };
      return {
        interval: q.interval,
        tz,
        event: q.event ?? null,
        type: q.type ?? null,
        where,
        from: new Date(from).toISOString(),
        to: new Date(to).toISOString(),
        buckets: listed(result.buckets),
        total: result.total,
        ...(breakdown && {
          breakdown: {
            ...breakdown,
            series: (result.series ?? []).map((sr) => ({ value: sr.value, other: sr.value === null, buckets: listed(sr.buckets), total: sr.total })),
          },
        }),
      };
    },
  );

  app.get<{ Querystring: TopEventsQuery }>(
    '/api/stats/top-events',
    { onRequest: auth, preHandler: refuseNonFinite, schema: { summary: 'The most frequent event names in a time range', security: SECURITY.secret, querystring: TopEventsQuery, response: { 200: TopEventsAnswer } } },
    async (req) => {
      const { from, to } = range(req.query, null);
      const events = await deps.stats.topEvents(req.apiKey!.project, { from, to, limit: req.query.limit! });
      return { from: new Date(from).toISOString(), to: new Date(to).toISOString(), events };
    },
  );

  app.get<{ Querystring: FunnelQuerySchema }>(
    '/api/stats/funnel',
    {
      onRequest: auth,
      preHandler: refuseNonFinite,
      schema: {
        summary: 'How many users went through 2 to 5 steps in order, each within a window of the first',
        security: SECURITY.secret,
        querystring: FunnelQuerySchema,
        response: { 200: FunnelAnswer },
      },
    },
    async (req) => {
      const steps = parseSteps(req.query.steps);
      const { from, to } = range(req.query, MAX_RANGE_DAYS.day, '');
      const windowSeconds = req.query.windowSeconds!; // the schema's default fills it in
      const users = await deps.stats.funnel(req.apiKey!.project, { from, to, windowMs: windowSeconds * 1000, steps });
      return {
        from: new Date(from).toISOString(),
        to: new Date(to).toISOString(),
        windowSeconds,
        steps: steps.map((step, i) => ({
          event: step.event,
          where: step.where ?? null,
          users: users[i],
          conversion: i === 0 || users[i - 1] === 0 ? null : users[i] / users[i - 1],
        })),
      };
    },
  );

  app.get<{ Querystring: RetentionQuerySchema }>(
    '/api/stats/retention',
    {
      onRequest: auth,
      preHandler: refuseNonFinite,
      schema: {
        summary: 'Users who did an event in a day or week, and how many of them came back in each following period',
        security: SECURITY.secret,
        querystring: RetentionQuerySchema,
        response: { 200: RetentionAnswer },
      },
    },
    async (req) => {
      const q = req.query as Required<RetentionQuerySchema>; // the schema's defaults fill period, periods and tz in
      const tz = q.tz;
      checkTimeZone(tz);
      const { from, to } = range(q, MAX_RANGE_DAYS.day, '');
      const returnEvent = q.returnEvent ?? q.startEvent;
      const periodDays = q.period === 'week' ? 7 : 1;
      // Returns are read up to the last cohort's last period, with a day to spare for DST; a week
      // cohort's first day may be before `from` (its label needs it).
      const end = to + (q.periods + 1) * periodDays * DAY_MS + DAY_MS;
      const spans = offsetSpans(tz, from - 7 * DAY_MS, end);
      const found = new Map((await deps.stats.retention(req.apiKey!.project, { from, to, end, period: q.period, periods: q.periods, spans, startEvent: q.startEvent, returnEvent })).map((c) => [c.key, c]));
      const cohorts: Array<{ start: string; users: number; returned: number[]; retention: Array<number | null> }> = [];
      const seen = new Set<number>();
      for (const day of bucketsOf('day', spans, from, to)) {
        const key = q.period === 'day' ? day.key : Math.floor((day.key + 3) / 7);
        if (seen.has(key)) continue;
        seen.add(key);
        const start = q.period === 'day' ? day.start : (dayStart(spans, 7 * key - 3) ?? day.start);
        const c = found.get(key);
        found.delete(key);
        const users = c?.users ?? 0;
        const returned = c?.returned ?? new Array<number>(q.periods).fill(0);
        cohorts.push({ start: formatInZone(tz, start), users, returned, retention: returned.map((n) => (users === 0 ? null : n / users)) });
      }
      // Every cohort the store found must be one listed here: anything left is a bug, not a figure to drop.
      if (found.size > 0) throw new Error(`retention: ${found.size} cohort keys outside the computed periods (${[...found.keys()].slice(0, 3).join(', ')})`);
      return { startEvent: q.startEvent, returnEvent, period: q.period, periods: q.periods, tz, from: new Date(from).toISOString(), to: new Date(to).toISOString(), cohorts };
    },
  );

  app.get<{ Querystring: TopEventsQuery }>(
    '/api/stats/top-pages',
    {
      onRequest: auth,
      preHandler: refuseNonFinite,
      schema: {
        summary: 'The most viewed pages (context.page.path of `page` events) in a time range',
        security: SECURITY.secret,
        querystring: TopPagesQuery,
        response: { 200: TopPagesAnswer },
      },
    },
    async (req) => {
      const { from, to } = range(req.query, null);
      const pages = await deps.stats.topPages(req.apiKey!.project, { from, to, limit: req.query.limit! });
      return { from: new Date(from).toISOString(), to: new Date(to).toISOString(), pages };
    },
  );
}
