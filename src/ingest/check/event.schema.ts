// The event object of ../shared/spec/api-events.md as a JSON Schema (TypeBox), compiled once by Ajv.
// Cross-field rules (userId or anonymousId, type-specific fields) live in check-event.ts, where each
// gets a message naming the field.
import { Type, type Static } from '@sinclair/typebox';

export const EVENT_TYPES = ['track', 'identify', 'page', 'group', 'alias'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export const MESSAGE_ID_MAX = 200;
const ID_MAX = 1024;

// Optional fields may also be null, meaning absent: Segment's SDKs send `userId: null` for anonymous
// users, and `name: null` on pages. (`nullable` is Ajv's OpenAPI keyword.)
const nullable = { nullable: true };
const NullableId = Type.String({ minLength: 1, maxLength: ID_MAX, ...nullable });

export const Event = Type.Object(
  {
    type: Type.Unsafe<EventType>({ type: 'string', enum: [...EVENT_TYPES] }),
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
export type Event = Static<typeof Event>;

export const Batch = Type.Object(
  {
    batch: Type.Array(Type.Unknown(), { minItems: 1 }),
    sentAt: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: true },
);
