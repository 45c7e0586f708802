import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MAX_EVENT_DEPTH, checkEvent, isIsoDateTime } from './check-event.js';
import { EVENT_TYPES, MESSAGE_ID_MAX, type EventType } from './event.schema.js';

// ---- arbitraries -------------------------------------------------------------------------------

const MIN_MS = Date.UTC(1970, 0, 1);
const MAX_MS = Date.UTC(2100, 0, 1);

/** ISO 8601 date-times with a zone, in the forms clients send: Z or an offset, with or without fractions. */
const isoTimestamp = fc
  .record({
    ms: fc.integer({ min: MIN_MS, max: MAX_MS }),
    offsetMin: fc.constantFrom(0, 60, -300, 330, 545, -720, 840),
    fraction: fc.constantFrom('', '.1', '.123', '.123456', '.123456789'),
    zulu: fc.boolean(),
  })
  .map(({ ms, offsetMin, fraction, zulu }) => {
    if (zulu) return new Date(ms).toISOString().slice(0, 19) + fraction + 'Z';
    const local = new Date(ms + offsetMin * 60_000).toISOString().slice(0, 19);
    const sign = offsetMin < 0 ? '-' : '+';
    const abs = Math.abs(offsetMin);
    return `${local}${fraction}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
  });

/** Any non-empty string of at most `max` characters (code points), ASCII or not. */
const nonEmpty = (max: number) => fc.oneof(fc.string({ minLength: 1, maxLength: Math.min(max, 40) }), fc.string({ unit: 'binary', minLength: 1, maxLength: Math.min(max, 40) }));
const messageId = fc.oneof(nonEmpty(MESSAGE_ID_MAX), fc.uuid(), fc.string({ minLength: MESSAGE_ID_MAX, maxLength: MESSAGE_ID_MAX }));
const jsonObject = fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 });

/** Who: userId, anonymousId or both. */
const identity = fc.oneof(
  fc.record({ userId: nonEmpty(1024) }),
  fc.record({ anonymousId: nonEmpty(1024) }),
  fc.record({ userId: nonEmpty(1024), anonymousId: nonEmpty(1024) }),
);

const typeFields: Record<EventType, fc.Arbitrary<Record<string, unknown>>> = {
  track: fc.record({ event: nonEmpty(1024), properties: jsonObject }, { requiredKeys: ['event'] }),
  identify: fc.record({ traits: jsonObject }, { requiredKeys: [] }),
  page: fc.record({ name: fc.string(), category: fc.string(), properties: jsonObject }, { requiredKeys: [] }),
  group: fc.record({ groupId: nonEmpty(1024), traits: jsonObject }, { requiredKeys: ['groupId'] }),
  alias: fc.record({ previousId: nonEmpty(1024), userId: nonEmpty(1024) }),
};

/** A valid event of any type; extra fields outside the spec are allowed and kept. */
const validEvent = fc
  .constantFrom(...EVENT_TYPES)
  .chain((type) =>
    fc.tuple(
      fc.constant(type),
      fc.record({ messageId, timestamp: isoTimestamp, context: jsonObject }),
      identity,
      typeFields[type],
      fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }).map((k) => `x_${k}`), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 2 }),
    ),
  )
  .map(([type, common, who, specific, extra]) => ({ type, ...common, ...who, ...specific, ...extra }) as Record<string, unknown>);

/** The fields an event cannot do without, for its type and identity. */
function requiredFields(e: Record<string, unknown>): string[] {
  const out = ['type', 'timestamp', 'messageId', 'context'];
  if (e.type === 'track') out.push('event');
  if (e.type === 'group') out.push('groupId');
  if (e.type === 'alias') out.push('previousId', 'userId');
  if (e.userId === undefined) out.push('anonymousId');
  if (e.anonymousId === undefined && !out.includes('userId')) out.push('userId');
  return out;
}

// ---- properties --------------------------------------------------------------------------------

const NULLABLE = ['userId', 'anonymousId', 'event', 'name', 'category', 'groupId', 'previousId', 'properties', 'traits'];

describe('checkEvent (properties)', () => {
  it('accepts every valid event', () => {
    fc.assert(
      fc.property(validEvent, (e) => {
        expect(checkEvent(e)).toBeNull();
      }),
      { numRuns: 500 },
    );
  });

  it('rejects an event missing any required field, with a message naming that field', () => {
    fc.assert(
      fc.property(
        validEvent.chain((e) => fc.tuple(fc.constant(e), fc.constantFrom(...requiredFields(e)))),
        ([e, field]) => {
          const broken = { ...e };
          delete broken[field];
          const msg = checkEvent(broken);
          expect(msg).not.toBeNull();
          expect(msg).toContain('`' + field + '`');
        },
      ),
      { numRuns: 500 },
    );
  });

  it('takes null in an optional field as absent', () => {
    const base = { type: 'page', messageId: 'm1', timestamp: '2025-01-15T10:30:00Z', context: {}, userId: 'u1', anonymousId: 'a1' };
    for (const field of NULLABLE) expect(checkEvent({ ...base, [field]: null }), field).toBeNull();
    expect(checkEvent({ ...base, anonymousId: null, userId: null })).toBe('`userId` or `anonymousId` is required');
    expect(checkEvent({ ...base, type: 'track', event: null })).toBe('`event` is required for track events');
    expect(checkEvent({ ...base, type: 'group', groupId: null })).toBe('`groupId` is required for group events');
  });

  it('rejects a wrong type in any known field, naming it', () => {
    const stringFields = ['type', 'timestamp', 'messageId', 'userId', 'anonymousId', 'event', 'name', 'category', 'groupId', 'previousId'];
    const objectFields = ['context', 'properties', 'traits'];
    fc.assert(
      fc.property(
        validEvent,
        fc.constantFrom(...stringFields, ...objectFields),
        fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string(), { maxLength: 2 })),
        fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.array(fc.integer(), { maxLength: 2 })),
        (e, field, notAString, notAnObject) => {
          const value = objectFields.includes(field) ? notAnObject : notAString;
          fc.pre(!(value === null && NULLABLE.includes(field))); // null means absent there (Segment SDKs send it)
          const broken = { ...e, [field]: value };
          const msg = checkEvent(broken);
          expect(msg).not.toBeNull();
          expect(msg).toContain('`' + field + '`');
        },
      ),
      { numRuns: 500 },
    );
  });

  it('rejects a timestamp that is not an ISO 8601 date-time with a zone', () => {
    const notIso = fc.oneof(
      fc.string().filter((s) => !/^\d{4}-/.test(s)),
      isoTimestamp.map((t) => t.replace(/(Z|[+-]\d\d:\d\d)$/, '')), // no zone
      isoTimestamp.map((t) => t.slice(0, 10)), // date only
      fc.integer({ min: MIN_MS, max: MAX_MS }).map((ms) => new Date(ms).toUTCString()),
    );
    fc.assert(
      fc.property(validEvent, notIso, (e, timestamp) => {
        const msg = checkEvent({ ...e, timestamp });
        expect(msg).toContain('`timestamp`');
        expect(isIsoDateTime(timestamp)).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('accepts any messageId of 1..200 characters and rejects longer ones', () => {
    fc.assert(
      fc.property(validEvent, fc.integer({ min: 1, max: 400 }), fc.constantFrom('a', 'é', '中', '📦'), (e, n, unit) => {
        const msg = checkEvent({ ...e, messageId: unit.repeat(n) });
        if (n <= MESSAGE_ID_MAX) expect(msg).toBeNull();
        else expect(msg).toContain('`messageId`');
      }),
      { numRuns: 300 },
    );
  });

  it('never throws, whatever the input', () => {
    fc.assert(
      fc.property(fc.anything(), (v) => {
        const msg = checkEvent(v);
        expect(msg === null || typeof msg === 'string').toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});

// ---- examples ----------------------------------------------------------------------------------

const base = { type: 'track', event: 'Button Clicked', timestamp: '2025-01-15T10:30:00Z', userId: 'user_123', messageId: 'msg_789', context: {} };

describe('checkEvent (examples)', () => {
  it('accepts the spec example, whose messageId msg_789 is not a UUID', () => {
    expect(checkEvent({ ...base, anonymousId: 'anon_456', properties: { button_id: 'cta-signup' }, context: { sessionId: 's' } })).toBeNull();
  });

  it('messageId: 200 characters valid, 201 invalid, empty invalid', () => {
    expect(checkEvent({ ...base, messageId: 'm'.repeat(200) })).toBeNull();
    expect(checkEvent({ ...base, messageId: 'm'.repeat(201) })).toBe('`messageId` must be at most 200 characters');
    expect(checkEvent({ ...base, messageId: '' })).toBe('`messageId` must not be empty');
  });

  it.each([
    [{ type: 'identify' }, null],
    [{ type: 'page' }, null],
    [{ type: 'group' }, '`groupId` is required for group events'],
    [{ type: 'group', groupId: 'g' }, null],
    [{ type: 'alias' }, '`previousId` is required for alias events'],
    [{ type: 'alias', previousId: 'p' }, null],
    [{ type: 'track' }, '`event` is required for track events'],
  ])('type-specific fields: %j', (fields, expected) => {
    const { event: _drop, ...common } = base;
    expect(checkEvent({ ...common, ...fields })).toBe(expected);
  });

  it('alias needs userId even with anonymousId', () => {
    const { userId: _drop, event: _e, ...common } = base;
    expect(checkEvent({ ...common, type: 'alias', previousId: 'p', anonymousId: 'a' })).toBe('`userId` is required for alias events');
  });

  it('needs userId or anonymousId', () => {
    const { userId: _drop, ...rest } = base;
    expect(checkEvent(rest)).toBe('`userId` or `anonymousId` is required');
    expect(checkEvent({ ...rest, anonymousId: 'a' })).toBeNull();
  });

  it.each([null, 'track', 42, [], [base], true])('a non-object event (%j) is rejected', (v) => {
    expect(checkEvent(v)).toBe('event must be a JSON object');
  });

  it('context must be an object, not an array or null', () => {
    expect(checkEvent({ ...base, context: [] })).toBe('`context` must be an object');
    expect(checkEvent({ ...base, context: null })).toBe('`context` must be an object');
  });

  it('an unknown type names the allowed ones', () => {
    expect(checkEvent({ ...base, type: 'screen' })).toBe('`type` must be one of track, identify, page, group, alias');
  });

  it(`nesting: ${MAX_EVENT_DEPTH} levels (the event itself included) are accepted, one more is refused naming the field`, () => {
    const nest = (levels: number): unknown => (levels === 0 ? 'leaf' : [nest(levels - 1)]);
    // event (1) > properties (2) > arrays...
    expect(checkEvent({ ...base, properties: { deep: nest(MAX_EVENT_DEPTH - 2) } })).toBeNull();
    expect(checkEvent({ ...base, properties: { deep: nest(MAX_EVENT_DEPTH - 1) } })).toBe(`\`properties\` nests deeper than ${MAX_EVENT_DEPTH} levels of objects and arrays`);
    expect(checkEvent({ ...base, context: { a: { b: nest(MAX_EVENT_DEPTH) } } })).toContain('`context`');
    expect(checkEvent({ ...base, extra: nest(MAX_EVENT_DEPTH) })).toContain('`extra`');
  });

  it('refuses nesting far beyond any stack without throwing', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 200_000; i++) deep = { d: deep };
    expect(checkEvent({ ...base, properties: deep })).toContain('`properties`');
  });

  it('does not modify the event', () => {
    const e = structuredClone(base);
    checkEvent(e);
    expect(e).toEqual(base);
  });
});

describe('isIsoDateTime', () => {
  it.each(['2025-01-15T10:30:05Z', '2025-01-15T10:30:05.123Z', '2025-01-15T12:30:05+02:00', '2025-01-15T10:30:05.123456-05:00', '2025-01-15t10:30:05z'])(
    'accepts %s',
    (s) => expect(isIsoDateTime(s)).toBe(true),
  );

  // A leap second is RFC 3339 but no JavaScript Date can hold it, so it is refused rather than shifted.
  it.each(['2016-12-31T23:59:60Z', '2025-01-15', '2025-01-15T10:30:05', '2025-13-01T00:00:00Z', '2025-02-30T00:00:00Z', '2025-01-15T24:00:01Z', 'yesterday', '', 'Wed, 15 Jan 2025 10:30:05 GMT', 1736937005000, null, undefined, {}])(
    'rejects %j',
    (v) => expect(isIsoDateTime(v)).toBe(false),
  );
});
