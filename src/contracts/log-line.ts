// The log-line format: the one module that says what a line of the durable log holds, writes its
// head, and reads it back. The HTTP edge writes lines (ingest/accept-batch.ts), the processor and the
// stores read them (process/pipeline.ts, store/duckdb/duckdb.bulk.ts), recovery reads their keys
// (log/segment.log.ts); all of them take the format from here.
//
// Version 2 (this release) — keys in this order, one JSON object per line, each line ending in \n:
//   {"v":2,"c":0|1,"p":project,"s":seq,"t":timestampMs,"r":receivedMs,"y":type,"n":event,"u":userId,
//    "a":anonymousId,"m":messageId,"i":clientIp,"g":userAgent[,"k":0],"e":{...event}}
//   v  the format version.
//   c  1 when the bulk enrichment rule covers the event (bulkShape below): not an identify/alias/group,
//      and a context that is a plain object without ip, browser, os or device. Such an event is stored
//      as it is and enrichment kept beside it (the store's ip and ua columns); 0: the per-event steps
//      run on it. Written first so a reader can tell the two kinds apart from a line's first bytes
//      (BULK_LINE_HEAD) without parsing it.
//   p s t y n u a m  the project, the sequence number, the corrected timestamp (epoch ms) and the
//      fields the store indexes (null when absent), repeated beside the event.
//   r  receivedAt as epoch ms: with p and m, what recovery needs to rebuild the line's dedupe key,
//      read from the line's head without parsing the event (readLineKeyAt).
//   i  the request's client IP as the edge saw it (the socket's peer, or X-Forwarded-For through a
//      trusted proxy), already in its stored form: IPv4-mapped IPv6 unmapped, its /24 or /48 with
//      SOLUTE_IP_MODE=truncate, null when unknown or with drop. What enrichment puts in context.ip.
//   g  context.userAgent when c is 1 and it is a non-empty string, else null.
//   k  0: the server assigned the messageId (a /v1 event without one), so the line has no dedupe key.
//   e  the event as sent plus receivedAt, originalTimestamp, sentAt and the corrected timestamp.
// Version 1 (releases before it): the same without v, c, r and g; `i` may be absent (read as null) and
// is the peer's address as seen (maybe IPv4-mapped). Every v1 line takes the per-event path.
import { mayHoldLoneSurrogate, wellFormed } from '../lib/well-formed.js';

export const LOG_FORMAT_VERSION = 2;

export interface LogLine {
  /** Format version; absent in version 1 lines. */
  v?: number;
  /** 1: the bulk enrichment rule covers the event; absent in version 1 lines. */
  c?: 0 | 1;
  p: string;
  s: number;
  t: number;
  /** receivedAt, epoch ms; absent in version 1 lines. */
  r?: number;
  y: string;
  n: string | null;
  u: string | null;
  a: string | null;
  m: string;
  /** Client IP of the request (absent in some version 1 lines). */
  i?: string | null;
  /** context.userAgent of a bulk line (c = 1); absent in version 1 lines. */
  g?: string | null;
  /** 0: the server assigned the messageId (a /v1 event without one), so the line has no dedupe key. Absent: it has one. */
  k?: 0;
  e: Record<string, unknown>;
}

/** The first bytes of every version 2 line the bulk rule covers (and of no other line). */
export const BULK_LINE_HEAD = `{"v":${LOG_FORMAT_VERSION},"c":1,`;

const STATEFUL_TYPES = new Set(['identify', 'alias', 'group']);

/**
 * True when enrichment of this event is exactly "add {ip, browser, os, device} to context": a type
 * the stateful steps do not take, and a context that is a plain object without any of those keys.
 * (process/steps/enrich.ts is the rule; its property test proves the two paths store the same event.)
 */
export function bulkShape(event: Record<string, unknown>): boolean {
  if (STATEFUL_TYPES.has(event.type as string)) return false;
  const c = event.context;
  if (typeof c !== 'object' || c === null || Array.isArray(c) || Object.getPrototypeOf(c) !== Object.prototype) return false;
  return !Object.hasOwn(c, 'ip') && !Object.hasOwn(c, 'browser') && !Object.hasOwn(c, 'os') && !Object.hasOwn(c, 'device');
}

/** `g` of a bulk line: context.userAgent when it is a non-empty string. */
export function bulkUserAgent(event: Record<string, unknown>): string | null {
  const ua = (event.context as Record<string, unknown>).userAgent;
  return typeof ua === 'string' && ua !== '' ? ua : null;
}

/** What comes before the sequence number: `{"v":2,"c":X,"p":project,"s":`. */
export function lineHead(project: string, bulk: boolean): string {
  return `{"v":${LOG_FORMAT_VERSION},"c":${bulk ? 1 : 0},"p":${JSON.stringify(project)},"s":`;
}

/**
 * What follows the sequence number, from `,"t":` to the line's end. `eventJson` is JSON.stringify of
 * the event as stored; `ipJson` the request's `i` as JSON (the same for all its lines).
 */
export function lineTail(event: Record<string, unknown>, t: number, receivedMs: number, ipJson: string, ua: string | null, assigned: boolean, eventJson: string): string {
  return (
    ',"t":' + t + ',"r":' + receivedMs + ',"y":' + JSON.stringify(event.type) + ',"n":' + jsonOrNull(event.event) + ',"u":' + jsonOrNull(event.userId) +
    ',"a":' + jsonOrNull(event.anonymousId) + ',"m":' + JSON.stringify(event.messageId) + ',"i":' + ipJson + ',"g":' + jsonOrNull(ua) +
    (assigned ? ',"k":0' : '') + ',"e":' + eventJson + '}\n'
  );
}

function jsonOrNull(v: unknown): string {
  return v == null ? 'null' : JSON.stringify(v);
}

/** What makes a parsed line unfit for the store, or null. */
function malformed(l: LogLine): string | null {
  if (typeof l !== 'object' || l === null || Array.isArray(l)) return 'not an object';
  if (typeof l.p !== 'string' || typeof l.y !== 'string' || typeof l.m !== 'string') return 'p, y and m must be strings';
  if (!Number.isSafeInteger(l.s) || !Number.isSafeInteger(l.t)) return 's and t must be integers';
  if (typeof l.e !== 'object' || l.e === null || Array.isArray(l.e)) return 'e must be an object';
  for (const k of ['n', 'u', 'a'] as const) if (l[k] !== null && l[k] !== undefined && typeof l[k] !== 'string') return `${k} must be a string or null`;
  if (l.v !== undefined && l.v !== 1 && l.v !== LOG_FORMAT_VERSION) return `unknown log format version ${String(l.v)}`;
  return null;
}

/** A line of either version, checked; null fields filled in; lone surrogates mended (v1 lines may hold them). */
export function parseLine(raw: string): LogLine {
  let l = JSON.parse(raw) as LogLine;
  const problem = malformed(l);
  if (problem) throw new Error(`malformed log line: ${problem}`);
  l.n ??= null;
  l.u ??= null;
  l.a ??= null;
  l.i ??= null;
  // DuckDB refuses lone UTF-16 surrogates, which JSON allows: the edge stores U+FFFD in their place;
  // lines written before it did are mended here.
  if (mayHoldLoneSurrogate(raw)) l = wellFormed(l) as LogLine;
  return l;
}

/** What readLineKeyAt reads of a line. */
export interface LineKey {
  p: string;
  s: number;
  m: string;
  r: number;
  k?: 0;
}

const V2_HEAD = `{"v":${LOG_FORMAT_VERSION},`;
const V2_HEAD_BYTES = Buffer.from(V2_HEAD);
const EVENT_MARK = ',"e":{';

/**
 * What recovery needs of a line to rebuild its dedupe key: its project, sequence number, messageId,
 * receivedAt (epoch ms), and whether it has a key; null when it is damaged. A version 2 line is read
 * from its head only (everything before `"e"`: no string in the head can hold `,"e":` unescaped), so a
 * restart on a large backlog does not parse every event. The line is bytes [start, end) of a segment
 * file; only its head is decoded (the events' text, two thirds of a line, is never needed).
 */
export function readLineKeyAt(file: Buffer, start: number, end: number): LineKey | null {
  try {
    if (end - start >= V2_HEAD_BYTES.length && file.compare(V2_HEAD_BYTES, 0, V2_HEAD_BYTES.length, start, start + V2_HEAD_BYTES.length) === 0) {
      const at = file.indexOf(EVENT_MARK, start);
      return at < 0 || at >= end ? null : keyOfHead(file.toString('utf8', start, at));
    }
    return keyOfV1Line(file.toString('utf8', start, end));
  } catch {
    return null;
  }
}

function keyOfHead(head: string): LineKey | null {
  const h = JSON.parse(head + '}') as { p?: unknown; s?: unknown; m?: unknown; r?: unknown; k?: unknown };
  if (typeof h.p !== 'string' || !Number.isSafeInteger(h.s) || typeof h.m !== 'string' || !Number.isSafeInteger(h.r)) return null;
  return { p: h.p, s: h.s as number, m: h.m, r: h.r as number, ...(h.k === 0 ? { k: 0 as const } : {}) };
}

/** A version 1 line (or one that claims no version): parsed whole. Throws when it does not parse. */
function keyOfV1Line(text: string): LineKey | null {
  const line = JSON.parse(text) as { p?: unknown; s?: unknown; k?: unknown; e?: { messageId?: unknown; receivedAt?: unknown } };
  if (typeof line.p !== 'string' || typeof line.s !== 'number' || typeof line.e?.messageId !== 'string') return null;
  if (typeof line.e.receivedAt !== 'string') return null;
  const r = Date.parse(line.e.receivedAt);
  if (!Number.isFinite(r)) return null;
  return { p: line.p, s: line.s, m: line.e.messageId, r, ...(line.k === 0 ? { k: 0 as const } : {}) };
}

/**
 * The `e` of a line whose event is not held as an object: read by readBulkLine (its JSON text is kept
 * instead), or let go once a store has its JSON (EventStore.encodeLine). Never read; shared and frozen.
 */
export const EVENT_NOT_HELD: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>;

/**
 * A line the bulk rule covers, read without parsing its event: the head's fields (a LogLine whose `e`
 * is an empty placeholder) and the event's JSON text as the edge wrote it. null when the line must be
 * parsed whole: not such a line, a head that does not read, or an event whose strings a store must
 * rewrite (a `\u0000` or `\u0001` escape, a possible lone surrogate).
 */
export function readBulkLine(raw: string): { line: LogLine; event: string } | null {
  if (!raw.startsWith(BULK_LINE_HEAD) || raw.charCodeAt(raw.length - 1) !== 0x7d /* } */) return null;
  if (mayHoldLoneSurrogate(raw) || raw.includes('\\u0000') || raw.includes('\\u0001')) return null;
  // No string in the head can hold `,"e":{` unescaped (see readLineKeyAt).
  const at = raw.indexOf(',"e":{');
  if (at < 0) return null;
  let line: LogLine;
  try {
    line = JSON.parse(raw.slice(0, at) + '}') as LogLine;
  } catch {
    return null;
  }
  line.e = EVENT_NOT_HELD;
  if (malformed(line) !== null) return null;
  line.n ??= null;
  line.u ??= null;
  line.a ??= null;
  line.i ??= null;
  line.g ??= null;
  return { line, event: raw.slice(at + 5, -1) };
}

const BULK_HEAD_BYTES = Buffer.from(BULK_LINE_HEAD);

/**
 * A segment file's lines that the bulk rule does not cover (they do not start with BULK_LINE_HEAD),
 * with their index in the file, and the first and last lines' sequence numbers (lines are in sequence
 * order; null when the line does not read). Looks at each line's first bytes only; a damaged line is among the others.
 */
export function linesOutsideBulkRule(file: Buffer): { firstSeq: number | null; lastSeq: number | null; raws: string[]; indexes: number[] } {
  const raws: string[] = [];
  const indexes: number[] = [];
  let firstSeq: number | null = null;
  let lastSeq: number | null = null;
  let start = 0;
  for (let index = 0; start < file.length; index++) {
    let end = file.indexOf(10, start);
    if (end < 0) end = file.length;
    if (index === 0) firstSeq = firstLineSeq(file.toString('utf8', start, end));
    if (end >= file.length - 1) lastSeq = firstLineSeq(file.toString('utf8', start, end));
    if (end - start < BULK_HEAD_BYTES.length || file.compare(BULK_HEAD_BYTES, 0, BULK_HEAD_BYTES.length, start, start + BULK_HEAD_BYTES.length) !== 0) {
      raws.push(file.toString('utf8', start, end));
      indexes.push(index);
    }
    start = end + 1;
  }
  return { firstSeq, lastSeq, raws, indexes };
}

function firstLineSeq(text: string): number | null {
  try {
    const s = (JSON.parse(text) as { s?: unknown }).s;
    return Number.isSafeInteger(s) ? (s as number) : null;
  } catch {
    return null;
  }
}
