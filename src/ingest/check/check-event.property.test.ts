// Properties of the per-event check (fast-check): whatever arrives, it answers null or a message and
// never throws; every valid event is accepted; any single change that breaks a rule is refused with a
// message naming the field. The named examples are in check-event.test.ts.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MAX_EVENT_DEPTH, checkEvent, checkSegmentEvent, isIsoDateTime } from './check-event.js';
import { ALL_EVENT_TYPES, EVENT_TYPES, Event, MESSAGE_ID_MAX, SegmentEvent, type EventType } from './event.schema.js';
import { Ajv, type ErrorObject } from 'ajv';
import addFormats from 'ajv-formats';

/** Does this JSON value hold a `__proto__` key, or a `constructor` object with a `prototype` key, anywhere? */
function hasForbiddenKey(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false;
  if (Array.isArray(v)) return v.some(hasForbiddenKey);
  for (const [k, x] of Object.entries(v)) {
    if (k === '__proto__') return true;
    if (k === 'constructor' && typeof x === 'object' && x !== null && Object.hasOwn(x, 'prototype')) return true;
    if (hasForbiddenKey(x)) return true;
  }
  return false;
}

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
/** fast-check favours `__proto__` and `constructor` among its strings: valid events must not hold the refused keys. */
const safeKey = fc.string({ maxLength: 10 }).filter((k) => k !== '__proto__');
const safeJson = fc.jsonValue({ maxDepth: 2 }).filter((v) => !hasForbiddenKey(v));
const jsonObject = fc.dictionary(safeKey, safeJson, { maxKeys: 5 });

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
      fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }).map((k) => `x_${k}`), safeJson, { maxKeys: 2 }),
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


// ---- hostile values and single mutations ------------------------------------------------------

const checks = [
  ['checkEvent', checkEvent],
  ['checkSegmentEvent', checkSegmentEvent],
] as const;

/** Nested arrays/objects `levels` deep, built without recursion. */
function nested(levels: number, objects: boolean): unknown {
  let v: unknown = 0;
  for (let i = 0; i < levels; i++) v = objects ? { k: v } : [v];
  return v;
}

/** JSON text parsed as the server parses it: `__proto__` becomes an own key, as it does off the wire. */
const withKey = (obj: Record<string, unknown>, key: string, value: unknown): Record<string, unknown> => {
  const text = JSON.stringify(obj);
  const inner = JSON.stringify({ [key]: value }).slice(1, -1);
  return JSON.parse(text === '{}' ? `{${inner}}` : `${text.slice(0, -1)},${inner}}`);
};

/** Anything the JSON parser can hand the check, plus deep nesting and prototype keys. */
const hostileValue = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  fc.anything({ maxDepth: 3, withObjectString: true, withNullPrototype: true, withBoxedValues: true }),
  fc.tuple(fc.integer({ min: 1, max: 3000 }), fc.boolean()).map(([n, o]) => nested(n, o)),
  fc.tuple(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom('__proto__', 'constructor', 'prototype')).map(([v, k]) => JSON.parse(`{"${k}":${JSON.stringify(v) ?? 'null'},"type":"track"}`)),
  validEvent.chain((e) => fc.tuple(fc.constant(e), fc.dictionary(fc.string({ maxLength: 12 }), fc.anything({ maxDepth: 2 }), { maxKeys: 4 }))).map(([e, extra]) => ({ ...e, ...extra })),
);

/** One change to a valid event that breaks exactly one rule, and a piece of the message it must give. */
type Mutation = { name: string; apply: (e: Record<string, unknown>) => Record<string, unknown> | unknown; says: (e: Record<string, unknown>) => string };

const STRING_FIELDS = ['type', 'timestamp', 'messageId', 'userId', 'anonymousId', 'event', 'name', 'category', 'groupId', 'previousId'];
const OBJECT_FIELDS = ['context', 'properties', 'traits'];
const ID_FIELDS = ['userId', 'anonymousId', 'event', 'groupId', 'previousId'];

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.constant<Mutation>({ name: 'not an object', apply: (e) => [e], says: () => 'JSON object' }),
  fc.constantFrom('type', 'timestamp', 'messageId', 'context').map((f): Mutation => ({ name: `delete ${f}`, apply: (e) => ({ ...e, [f]: undefined }), says: () => `\`${f}\`` })),
  fc.tuple(fc.constantFrom(...STRING_FIELDS), fc.oneof(fc.integer(), fc.double(), fc.boolean(), fc.array(fc.string(), { maxLength: 2 }), fc.constant({}))).map(
    ([f, v]): Mutation => ({ name: `${f} = ${JSON.stringify(v)}`, apply: (e) => ({ ...e, [f]: v }), says: () => `\`${f}\`` }),
  ),
  fc.tuple(fc.constantFrom(...OBJECT_FIELDS), fc.oneof(fc.string(), fc.integer(), fc.array(fc.integer(), { maxLength: 2 }))).map(
    ([f, v]): Mutation => ({ name: `${f} = ${JSON.stringify(v)}`, apply: (e) => ({ ...e, [f]: v }), says: () => `\`${f}\`` }),
  ),
  fc.integer({ min: MESSAGE_ID_MAX + 1, max: 5000 }).map((n): Mutation => ({ name: `messageId of ${n}`, apply: (e) => ({ ...e, messageId: 'm'.repeat(n) }), says: () => '`messageId` must be at most 200 characters' })),
  fc.tuple(fc.constantFrom(...ID_FIELDS), fc.integer({ min: 1025, max: 5000 })).map(([f, n]): Mutation => ({ name: `${f} of ${n}`, apply: (e) => ({ ...e, [f]: 'x'.repeat(n) }), says: () => `\`${f}\` must be at most 1024` })),
  fc.constantFrom('messageId', 'userId', 'anonymousId', 'event', 'groupId', 'previousId').map((f): Mutation => ({ name: `${f} empty`, apply: (e) => ({ ...e, [f]: '' }), says: () => `\`${f}\`` })),
  fc.constantFrom('yesterday', '2025-01-15', '2025-01-15T10:30:00', '1736937000', '+010000-01-01T00:00:00Z', '2025-02-30T00:00:00Z', '').map(
    (t): Mutation => ({ name: `timestamp ${t}`, apply: (e) => ({ ...e, timestamp: t }), says: () => '`timestamp`' }),
  ),
  fc.string({ minLength: 1, maxLength: 10 }).filter((t) => !['track', 'identify', 'page', 'group', 'alias', 'screen'].includes(t)).map(
    (t): Mutation => ({ name: `type ${t}`, apply: (e) => ({ ...e, type: t }), says: () => '`type` must be one of' }),
  ),
  fc.tuple(fc.constantFrom('properties', 'context', 'traits', 'x_deep'), fc.integer({ min: MAX_EVENT_DEPTH, max: 5000 }), fc.boolean()).map(
    ([f, n, o]): Mutation => ({ name: `${f} nested ${n}`, apply: (e) => ({ ...e, [f]: { d: nested(n, o) } }), says: () => `\`${f}\` nests deeper than ${MAX_EVENT_DEPTH}` }),
  ),
  fc.tuple(fc.constantFrom('properties', 'context', 'traits'), fc.constantFrom('__proto__', 'constructor'), fc.integer({ min: 0, max: 5 })).map(
    ([f, key, depth]): Mutation => ({
      name: `${key} in ${f} at depth ${depth}`,
      apply: (e) => {
        let inner = withKey({}, key, key === 'constructor' ? { prototype: { polluted: 1 } } : { polluted: 1 });
        for (let i = 0; i < depth; i++) inner = i % 2 ? { a: inner } : ({ a: [inner] } as Record<string, unknown>);
        return { ...e, [f]: inner };
      },
      says: () => `\`${f}\` holds a \`${key === 'constructor' ? 'constructor.prototype' : '__proto__'}\` key`,
    }),
  ),
  fc.constantFrom('__proto__', 'constructor').map((key): Mutation => ({
    name: `${key} at the top`,
    apply: (e) => withKey(e, key, key === 'constructor' ? { prototype: {} } : {}),
    says: () => 'prototype pollution',
  })),
);

describe('checkEvent and checkSegmentEvent (hostile values)', () => {
  it.each(checks)('%s: never throws on anything the parser can produce; answers null or a message', (_name, check) => {
    fc.assert(
      fc.property(hostileValue, (v) => {
        const msg = check(v);
        expect(msg === null || (typeof msg === 'string' && msg.length > 0)).toBe(true);
      }),
      { numRuns: 400 },
    );
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it.each(checks)('%s: accepts every valid event, and leaves it unchanged', (_name, check) => {
    fc.assert(
      fc.property(validEvent, (e) => {
        const copy = structuredClone(e);
        expect(check(e)).toBeNull();
        expect(e).toEqual(copy);
      }),
      { numRuns: 300 },
    );
  });

  it.each(checks)('%s: any single mutation that breaks a rule is refused with a message naming what broke', (_name, check) => {
    fc.assert(
      fc.property(validEvent, mutation, (e, m) => {
        const broken = m.apply(e) as Record<string, unknown>;
        if (typeof broken === 'object' && broken !== null && !Array.isArray(broken)) {
          for (const k of Object.keys(broken)) if (broken[k] === undefined) delete broken[k];
        }
        const msg = check(broken);
        expect(msg, m.name).not.toBeNull();
        expect(msg, m.name).toContain(m.says(e));
      }),
      { numRuns: 600 },
    );
  });
});


// ---- the hand-written check against Ajv compiling the documented schema ------------------------

/**
 * The check as it was before it was written out by hand: Ajv compiling event.schema.ts (first error
 * only), its error turned into the same messages, then the rules the schema cannot say. The
 * hand-written check must give the same answer for every input.
 */
function ajvOracle(segment: boolean): (v: unknown) => string | null {
  const ajv = new Ajv({ allErrors: false, strict: false });
  (addFormats as unknown as (a: Ajv, f: string[]) => void)(ajv, ['date-time']);
  const validate = ajv.compile(segment ? SegmentEvent : Event);
  const types: readonly string[] = segment ? ALL_EVENT_TYPES : EVENT_TYPES;
  const describe = (err: ErrorObject | undefined): string => {
    if (!err) return 'event is invalid';
    const field = err.instancePath ? '`' + err.instancePath.slice(1).replace(/\//g, '.') + '`' : 'event';
    switch (err.keyword) {
      case 'required':
        return `\`${(err.params as { missingProperty: string }).missingProperty}\` is required`;
      case 'type': {
        const t = (err.params as { type: string }).type;
        return `${field} must be ${t === 'object' ? 'an' : 'a'} ${t}`;
      }
      case 'enum':
        return `${field} must be one of ${types.join(', ')}`;
      case 'format':
        return `${field} must be an ISO 8601 date-time with a time zone, e.g. 2025-01-15T10:30:00Z`;
      case 'minLength':
        return `${field} must not be empty`;
      case 'maxLength':
        return `${field} must be at most ${(err.params as { limit: number }).limit} characters`;
      default:
        return `${field} ${err.message ?? 'is invalid'}`;
    }
  };
  const check = segment ? checkSegmentEvent : checkEvent;
  return (v) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'event must be a JSON object';
    if (!validate(v)) return describe(validate.errors?.[0]);
    // Past the schema, both run the same code (the cross-field rules and the walk): the hand-written
    // check's answer on a schema-valid event is compared only for schema-valid-ness.
    const answer = check(v);
    return answer !== null && / is required$| must be | must not be /.test(answer) && !/ is required for | or `anonymousId` is required/.test(answer) ? 'SCHEMA ERROR AFTER AJV PASSED: ' + answer : answer;
  };
}

/** Date-times at and past each rule of RFC 3339 and of the digit-by-digit fast path. */
const DATE_TIMES = [
    '2025-01-15T10:30:00Z', '2025-01-15T10:30:00.123Z', '2024-02-29T00:00:00.000Z', '2025-02-29T00:00:00.000Z', '2025-04-31T00:00:00.000Z',
    '2025-13-01T00:00:00.000Z', '2025-00-10T00:00:00.000Z', '2025-01-00T00:00:00.000Z', '2025-01-15T24:00:00.000Z', '2025-01-15T23:60:00.000Z',
    '2016-12-31T23:59:60.000Z', '2016-12-31T23:59:60Z', '2025-01-15T10:30:61.000Z', '2025-01-15t10:30:00.000z', '2025-01-15 10:30:00.000Z',
    '2025-01-15T10:30:00.000+02:00', '2025-01-15T10:30:00', '1900-02-29T00:00:00.000Z', '2000-02-29T00:00:00.000Z', '+2025-01-15T10:30:00Z',
    '2025-01-15T10:30:00.1234Z', '2025-01-15T10:30:00.12Z', '2025-01-15X10:30:00.000Z', '2025-01-15T10:30:0a.000Z', '２025-01-15T10:30:00.000Z',
];

/** Values that probe each schema rule: wrong types, empty, at and past the lengths, odd date-times. */
const probe = fc.oneof(
  fc.constantFrom(undefined, null, '', 'x', 0, 1.5, true, false, [], {}, ['a'], { a: 1 }),
  fc.constantFrom('track', 'identify', 'page', 'group', 'alias', 'screen', 'Track', 'TRACK', 'screen '),
  fc.constantFrom(...DATE_TIMES),
  fc.integer({ min: 190, max: 210 }).map((n) => 'm'.repeat(n)),
  fc.integer({ min: 1015, max: 1030 }).map((n) => 'u'.repeat(n)),
  fc.integer({ min: 95, max: 105 }).map((n) => '📦'.repeat(n)),
  fc.integer({ min: 505, max: 520 }).map((n) => '📦'.repeat(n)),
  fc.integer({ min: 1020, max: 1030 }).map((n) => '\ud83d'.repeat(n)),
  fc.string({ maxLength: 6 }),
  fc.jsonValue({ maxDepth: 2 }),
);
const FIELDS = ['type', 'messageId', 'timestamp', 'context', 'userId', 'anonymousId', 'event', 'properties', 'traits', 'name', 'category', 'groupId', 'previousId'];

describe('the hand-written check gives Ajv\'s answer on the documented schema', () => {
  it.each([false, true])('segment routes: %s', (segment) => {
    const oracle = ajvOracle(segment);
    const check = segment ? checkSegmentEvent : checkEvent;
    fc.assert(
      fc.property(validEvent, fc.array(fc.tuple(fc.constantFrom(...FIELDS), probe), { minLength: 1, maxLength: 4 }), (e, changes) => {
        const broken: Record<string, unknown> = { ...e };
        for (const [f, v] of changes) {
          if (v === undefined) delete broken[f];
          else broken[f] = v;
        }
        expect(check(broken), JSON.stringify(changes)).toBe(oracle(broken));
      }),
      { numRuns: 3000 },
    );
    const base = { type: 'track', event: 'e', messageId: 'm', userId: 'u', context: {} };
    for (const timestamp of [...DATE_TIMES, ...DATE_TIMES.map((t) => t.replace('.000Z', '.999Z'))]) {
      expect(check({ ...base, timestamp }), timestamp).toBe(oracle({ ...base, timestamp }));
    }
    fc.assert(
      fc.property(fc.date({ min: new Date(-62167219200000), max: new Date(253402300799999), noInvalidDate: true }), (d) => {
        const timestamp = d.toISOString();
        expect(check({ ...base, timestamp }), timestamp).toBe(oracle({ ...base, timestamp }));
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.oneof(hostileValue, validEvent), (v) => {
        expect(check(v)).toBe(oracle(v));
      }),
      { numRuns: 500 },
    );
  });
});
