// Checks one event on its own; a failure names the field. Valid events of the same batch are kept.
// Written out by hand rather than compiled by Ajv: it runs once per event on the acknowledgement path,
// where Ajv's generated code and its date-time regexes took ~1.7 µs an event, this 0.6 (BENCHMARKS.md,
// issue 10's section). event.schema.ts stays the documented shape (OpenAPI), and the property test checks
// that this function and Ajv compiling that schema refuse the same events with the same first message.
import { fullFormats } from 'ajv-formats/dist/formats.js';
import { ALL_EVENT_TYPES, EVENT_TYPES, MESSAGE_ID_MAX, ID_MAX } from './event.schema.js';

/**
 * Most levels of objects and arrays in one event, the event itself being level 1. Deeper nesting
 * would overflow the stack of the recursive JSON.stringify on the ack path (a 20 KB event of
 * nested arrays did: a 500 that lost the whole batch).
 */
export const MAX_EVENT_DEPTH = 64;

const SPEC_TYPES = new Set<string>(EVENT_TYPES);
const SEGMENT_TYPES = new Set<string>(ALL_EVENT_TYPES);
const SPEC_TYPES_MESSAGE = '`type` must be one of ' + EVENT_TYPES.join(', ');
const SEGMENT_TYPES_MESSAGE = '`type` must be one of ' + ALL_EVENT_TYPES.join(', ');
const DATE_TIME_MESSAGE = 'must be an ISO 8601 date-time with a time zone, e.g. 2025-01-15T10:30:00Z';

/** Returns a message naming the first problem, or null when the event is valid. */
export function checkEvent(value: unknown): string | null {
  return check(value, SPEC_TYPES, SPEC_TYPES_MESSAGE);
}

/** checkEvent for the /v1 (Segment-compatible) routes: `screen` is a type too. */
export function checkSegmentEvent(value: unknown): string | null {
  return check(value, SEGMENT_TYPES, SEGMENT_TYPES_MESSAGE);
}

/**
 * The schema's rules in the order Ajv applies them (event.schema.ts): the required fields in order,
 * then each known field present, in the schema's order; for a string, its type, then maxLength, then
 * minLength, then its format or allowed values. Lengths count code points, as JSON Schema does.
 */
function check(value: unknown, types: ReadonlySet<string>, typesMessage: string): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'event must be a JSON object';
  const e = value as Record<string, unknown>;
  if (e.type === undefined) return '`type` is required';
  if (e.messageId === undefined) return '`messageId` is required';
  if (e.timestamp === undefined) return '`timestamp` is required';
  if (e.context === undefined) return '`context` is required';
  if (typeof e.type !== 'string') return '`type` must be a string';
  if (!types.has(e.type)) return typesMessage;
  const idProblem = text(e.messageId, 'messageId', MESSAGE_ID_MAX, false);
  if (idProblem !== null) return idProblem;
  if (typeof e.timestamp !== 'string') return '`timestamp` must be a string';
  if (!isDateTime(e.timestamp)) return '`timestamp` ' + DATE_TIME_MESSAGE;
  if (!isObject(e.context)) return '`context` must be an object';
  const problem =
    text(e.userId, 'userId', ID_MAX, true) ??
    text(e.anonymousId, 'anonymousId', ID_MAX, true) ??
    text(e.event, 'event', ID_MAX, true) ??
    object(e.properties, 'properties') ??
    object(e.traits, 'traits') ??
    text(e.name, 'name', Infinity, true) ??
    text(e.category, 'category', Infinity, true) ??
    text(e.groupId, 'groupId', ID_MAX, true) ??
    text(e.previousId, 'previousId', ID_MAX, true);
  if (problem !== null) return problem;
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
  return walk(e);
}

/** A string field: absent (or null where `nullable`) passes; else a string of 1..max code points (name and category may be empty). */
function text(v: unknown, field: string, max: number, nullable: boolean): string | null {
  if (v === undefined || (v === null && nullable)) return null;
  if (typeof v !== 'string') return `\`${field}\` must be a string`;
  if (v.length > max && codePoints(v) > max) return `\`${field}\` must be at most ${max} characters`;
  if (v.length === 0 && max !== Infinity) return `\`${field}\` must not be empty`;
  return null;
}

/** properties, traits: absent, null, or a JSON object (not an array). */
function object(v: unknown, field: string): string | null {
  if (v === undefined || v === null || isObject(v)) return null;
  return `\`${field}\` must be an object`;
}

function isObject(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The string's length in code points (a surrogate pair counts once), as JSON Schema's maxLength counts
 * (Ajv's runtime ucs2length; not imported: Node and Vitest hand that CommonJS default export over
 * differently, one as the module, the other as the function).
 */
function codePoints(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++, n++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
  }
  return n;
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

const RFC3339_DATE_TIME = (fullFormats['date-time'] as { validate: (s: string) => boolean }).validate;
const DAYS_IN_MONTH = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
/** The digits' positions in `YYYY-MM-DDTHH:MM:SS.sssZ`. */
const DIGITS_24 = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22];

/**
 * RFC 3339 date-time with a zone (ajv-formats' `date-time`, the schema's format). The form every SDK
 * sends, Date.prototype.toISOString's `YYYY-MM-DDTHH:MM:SS.sssZ`, is read digit by digit; any other
 * form goes to ajv-formats' own function.
 */
function isDateTime(s: string): boolean {
  if (s.length !== 24 || s.charCodeAt(23) !== 90 /* Z */) return RFC3339_DATE_TIME(s);
  const d = (i: number) => s.charCodeAt(i) - 48;
  for (const i of DIGITS_24) if (d(i) < 0 || d(i) > 9) return RFC3339_DATE_TIME(s);
  if (s[4] !== '-' || s[7] !== '-' || s[10] !== 'T' || s[13] !== ':' || s[16] !== ':' || s[19] !== '.') return RFC3339_DATE_TIME(s);
  const year = d(0) * 1000 + d(1) * 100 + d(2) * 10 + d(3);
  const month = d(5) * 10 + d(6);
  const day = d(8) * 10 + d(9);
  if (month < 1 || month > 12 || day < 1 || day > DAYS_IN_MONTH[month]) return false;
  if (month === 2 && day === 29 && !(year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0))) return false;
  // Hours, minutes, seconds; a leap second (23:59:60) is left to the full function.
  if (d(11) * 10 + d(12) > 23 || d(14) * 10 + d(15) > 59) return false;
  if (d(17) * 10 + d(18) > 59) return RFC3339_DATE_TIME(s);
  return true;
}
