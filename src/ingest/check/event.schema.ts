// The event object of ../shared/spec/api-events.md as a JSON Schema (TypeBox), compiled once by Ajv.
// Cross-field rules (userId or anonymousId, type-specific fields) live in check-event.ts, where each
// gets a message naming the field.
import { Type, type Static } from '@sinclair/typebox';

export const EVENT_TYPES = ['track', 'identify', 'page', 'group', 'alias'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export const MESSAGE_ID_MAX = 200;
const ID_MAX = 1024;

const Id = Type.String({ minLength: 1, maxLength: ID_MAX });

export const Event = Type.Object(
  {
    type: Type.Unsafe<EventType>({ type: 'string', enum: [...EVENT_TYPES] }),
    messageId: Type.String({ minLength: 1, maxLength: MESSAGE_ID_MAX }),
    timestamp: Type.String({ format: 'date-time' }),
    context: Type.Object({}),
    userId: Type.Optional(Id),
    anonymousId: Type.Optional(Id),
    event: Type.Optional(Type.String({ minLength: 1, maxLength: ID_MAX })),
    properties: Type.Optional(Type.Object({})),
    traits: Type.Optional(Type.Object({})),
    name: Type.Optional(Type.String()),
    category: Type.Optional(Type.String()),
    groupId: Type.Optional(Id),
    previousId: Type.Optional(Id),
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
