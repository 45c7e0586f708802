// The event object of ../shared/spec/api-events.md as a JSON Schema (TypeBox), compiled once by Ajv.
// Cross-field rules (userId or anonymousId, type-specific fields) live in check-event.ts, where each
// gets a message naming the field.
import { Type, type Static } from '@sinclair/typebox';

/** The types of the spec, accepted on POST /api/events. */
export const EVENT_TYPES = ['track', 'identify', 'page', 'group', 'alias'] as const;
/** Every stored type: the spec's plus Segment's `screen`, accepted on the /v1 routes only. */
export const ALL_EVENT_TYPES = [...EVENT_TYPES, 'screen'] as const;
export type EventType = (typeof EVENT_TYPES)[number];
export type AnyEventType = (typeof ALL_EVENT_TYPES)[number];

export const MESSAGE_ID_MAX = 200;
export const ID_MAX = 1024;

// Optional fields may also be null, meaning absent: Segment's SDKs send `userId: null` for anonymous
// users, and `name: null` on pages. (`nullable` is Ajv's OpenAPI keyword.)
const nullable = { nullable: true };
const NullableId = Type.String({ minLength: 1, maxLength: ID_MAX, ...nullable });

const eventSchema = (types: readonly AnyEventType[]) => Type.Object(
  {
    type: Type.Unsafe<AnyEventType>({ type: 'string', enum: [...types] }),
    messageId: Type.String({ minLength: 1, maxLength: MESSAGE_ID_MAX }),
    timestamp: Type.String({ format: 'date-time' }),
    context: Type.Object({}),
    userId: Type.Optional(NullableId),
    anonymousId: Type.Optional(NullableId),
    event: Type.Optional(Type.String({ minLength: 1, maxLength: ID_MAX, ...nullable })),
    properties: Type.Optional(Type.Object({}, nullable)),
    traits: Type.Optional(Type.Object({}, nullable)),
    name: Type.Optional(Type.String(nullable)),
    category: Type.Optional(Type.String(nullable)),
    groupId: Type.Optional(NullableId),
    previousId: Type.Optional(NullableId),
  },
  { additionalProperties: true },
);
export const Event = eventSchema(EVENT_TYPES);
/** The /v1 (Segment-compatible) routes' event: the same fields, `screen` allowed. */
export const SegmentEvent = eventSchema(ALL_EVENT_TYPES);
export type Event = Static<typeof Event>;

export const Batch = Type.Object(
  {
    batch: Type.Array(Type.Unknown(), { minItems: 1 }),
    sentAt: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: true },
);
