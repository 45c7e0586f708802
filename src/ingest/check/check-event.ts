// Checks one event on its own; a failure names the field. Valid events of the same batch are kept.
import { Ajv, type ErrorObject } from 'ajv';
import addFormats from 'ajv-formats';
import { ALL_EVENT_TYPES, Event, EVENT_TYPES, SegmentEvent } from './event.schema.js';

const ajv = new Ajv({ allErrors: false, strict: false });
(addFormats as unknown as (a: Ajv, f: string[]) => void)(ajv, ['date-time']);
const validateEvent = ajv.compile<Event>(Event);
const validateSegmentEvent = ajv.compile<Event>(SegmentEvent);

/**
 * Most levels of objects and arrays in one event, the event itself being level 1. Deeper nesting
 * would overflow the stack of the recursive JSON.stringify on the ack path (a 20 KB event of
 * nested arrays did: a 500 that lost the whole batch).
 */
export const MAX_EVENT_DEPTH = 64;

/** Returns a message naming the first problem, or null when the event is valid. */
export function checkEvent(value: unknown): string | null {
  return check(value, validateEvent, EVENT_TYPES);
}

/** checkEvent for the /v1 (Segment-compatible) routes: `screen` is a type too. */
export function checkSegmentEvent(value: unknown): string | null {
  return check(value, validateSegmentEvent, ALL_EVENT_TYPES);
}

function check(value: unknown, validate: typeof validateEvent, types: readonly string[]): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'event must be a JSON object';
  if (!validate(value)) return describe(validate.errors?.[0], types);
  const e = value as Event;
  if (e.userId == null && e.anonymousId == null) return '`userId` or `anonymousId` is required';
  if (!Number.isFinite(Date.parse(e.timestamp))) return '`timestamp` is not a valid date';
  switch (e.type) {
    case 'track':
      if (e.event == null) return '`event` is required for track events';
      break;
    case 'group':
      if (e.groupId == null) return '`groupId` is required for group events';
      break;
    case 'alias':
      if (e.previousId == null) return '`previousId` is required for alias events';
      if (e.userId == null) return '`userId` is required for alias events';
      break;
    default:
      // identify, page and screen need nothing beyond the common fields (docs/api.md says so).
      break;
  }
  return walk(e as Record<string, unknown>);
}

/** Scratch stacks for walk, reused across calls: the walk runs per event on the ack path. */
const walkNodes: object[] = [];
const walkDepths: number[] = [];

/**
 * A key that pollutes prototypes when a consumer merges the event into an object by assignment:
 * `__proto__`, or `constructor` holding an object with a `prototype` key (what secure-json-parse
 * and Fastify refuse). Plain `constructor` and `prototype` keys are harmless data and kept.
 */
function forbiddenKey(key: string, value: unknown): string | null {
  if (key === '__proto__') return '`__proto__`';
  if (key === 'constructor' && typeof value === 'object' && value !== null && Object.hasOwn(value, 'prototype')) return '`constructor.prototype`';
  return null;
}

/**
 * One iterative pass (no recursion) over the event's objects and arrays: nesting deeper than
 * MAX_EVENT_DEPTH, or a prototype-polluting key, at any level. The message names the top-level field.
 */
function walk(event: Record<string, unknown>): string | null {
  for (const key in event) {
    const top = event[key];
    const bad = forbiddenKey(key, top);
    if (bad !== null) return forbiddenMessage(key, bad, true);
    if (typeof top !== 'object' || top === null) continue;
    walkNodes.push(top);
    walkDepths.push(2);
    while (walkNodes.length > 0) {
      const node = walkNodes.pop() as Record<string, unknown> | unknown[];
      const depth = walkDepths.pop() as number;
      if (depth > MAX_EVENT_DEPTH) {
        walkNodes.length = 0;
        walkDepths.length = 0;
        return `\`${key}\` nests deeper than ${MAX_EVENT_DEPTH} levels of objects and arrays`;
      }
      if (Array.isArray(node)) {
        for (let i = 0; i < node.length; i++) {
          const c = node[i];
          if (typeof c === 'object' && c !== null) (walkNodes.push(c), walkDepths.push(depth + 1));
        }
      } else {
        for (const k in node) {
          const c = node[k];
          const inner = forbiddenKey(k, c);
          if (inner !== null) {
            walkNodes.length = 0;
            walkDepths.length = 0;
            return forbiddenMessage(key, inner, false);
          }
          if (typeof c === 'object' && c !== null) (walkNodes.push(c), walkDepths.push(depth + 1));
        }
      }
    }
  }
  return null;
}

function forbiddenMessage(field: string, what: string, top: boolean): string {
  const where = top ? 'the event has' : `\`${field}\` holds`;
  return `${where} a ${what} key, refused to prevent prototype pollution; rename it`;
}

/** Is `value` an ISO 8601 date-time with a time zone (RFC 3339), parseable as a date? */
export function isIsoDateTime(value: unknown): value is string {
  return typeof value === 'string' && isDateTime(value) && Number.isFinite(Date.parse(value));
}

const isDateTimeValidator = ajv.compile({ type: 'string', format: 'date-time' });
function isDateTime(v: string): boolean {
  return isDateTimeValidator(v) as boolean;
}

function describe(err: ErrorObject | undefined, types: readonly string[]): string {
  if (!err) return 'event is invalid';
  const field = err.instancePath ? '`' + err.instancePath.slice(1).replace(/\//g, '.') + '`' : 'event';
  switch (err.keyword) {
    case 'required':
      return `\`${(err.params as { missingProperty: string }).missingProperty}\` is required`;
    case 'type':
      return `${field} must be ${article((err.params as { type: string }).type)}`;
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
}

function article(type: string): string {
  return type === 'object' || type === 'array' || type === 'integer' ? `an ${type}` : `a ${type}`;
}
