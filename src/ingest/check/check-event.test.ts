// Examples of the per-event check; its properties (fast-check) are in check-event.property.test.ts.
import { describe, expect, it } from 'vitest';
import { MAX_EVENT_DEPTH, checkEvent, isIsoDateTime } from './check-event.js';

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
