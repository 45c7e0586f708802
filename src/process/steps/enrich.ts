// The enrich step: runs in the processor, after the acknowledgement, on each stored event (the log
// line's `e`) with the request's client IP (the line's `i`). Pure and synchronous: no I/O, and it
// throws only on a programming error (the processor turns a throw into a dead letter, step 'enrich').
//
// - context.ip: the client IP when the event has none; then SOLUTE_IP_MODE: keep, truncate (IPv4 /24,
//   IPv6 /48) or drop.
// - context.browser / os / device: from context.userAgent, parsed with ua-parser-js 1.x (MIT; 2.x is
//   AGPL), merged under what the client sent: a key the client set is never overwritten.
import UAParser from 'ua-parser-js';
import { truncateIp, unmapIPv4 } from '../../lib/ip.js';

export type IpMode = 'keep' | 'truncate' | 'drop';

export interface EnrichOptions {
  ipMode: IpMode;
  /** Parsed user agents kept (least recently used dropped first); 0 disables the cache. Default 1000. */
  uaCacheSize?: number;
}

export type Enrich = (event: Record<string, unknown>, clientIp: string | null) => void;

/** The fields a parsed user agent adds, only those ua-parser found. */
export interface ParsedUa {
  browser: Readonly<Record<string, string>> | null;
  os: Readonly<Record<string, string>> | null;
  device: Readonly<Record<string, string>> | null;
}

/** ua-parser-js 1.x looks at the first 500 characters only; longer strings are parsed but not cached. */
const UA_MAX_CACHED_LENGTH = 500;

/**
 * OS names (ua-parser-js 1.x, lowercased) of desktop computers. ua-parser sets no device type for a
 * desktop; a UA with a known browser on one of these OSes gets `device.type: 'desktop'`.
 */
const DESKTOP_OS = new Set([
  'windows', 'mac os', 'chromium os', 'linux', 'ubuntu', 'kubuntu', 'xubuntu', 'lubuntu', 'debian', 'fedora', 'suse',
  'opensuse', 'gentoo', 'arch', 'slackware', 'mandriva', 'centos', 'red hat', 'redhat', 'mint', 'manjaro',
  'elementary os', 'deepin', 'mageia', 'freebsd', 'openbsd', 'netbsd', 'dragonfly', 'solaris', 'opensolaris', 'haiku',
]);

export function createEnrich(opts: EnrichOptions): Enrich {
  const ipMode = opts.ipMode;
  const parseUa = cachedUaParser(opts.uaCacheSize ?? 1000);

  return function enrich(event, clientIp) {
    let context = event.context;
    if (context === undefined || context === null) {
      if (clientIp === null || ipMode === 'drop') return; // nothing to add
      context = event.context = {};
    }
    if (!isPlainObject(context)) return; // not ours to shape (the /api/events check refuses it anyway)

    // IP: the client's own context.ip wins (server-side SDKs forward their user's); null counts as absent.
    if (ipMode === 'drop') {
      delete context.ip;
    } else {
      if (context.ip == null && clientIp !== null) context.ip = unmapIPv4(clientIp);
      if (ipMode === 'truncate' && Object.hasOwn(context, 'ip')) {
        const truncated = truncateIp(context.ip);
        if (truncated === null) delete context.ip;
        else context.ip = truncated;
      }
    }

    const ua = context.userAgent;
    if (typeof ua === 'string' && ua !== '') {
      const parsed = parseUa(ua);
      if (parsed.browser !== null) mergeMissing(context, 'browser', parsed.browser);
      if (parsed.os !== null) mergeMissing(context, 'os', parsed.os);
      if (parsed.device !== null) mergeMissing(context, 'device', parsed.device);
    }
  };
}

/** Puts `fields` into context[key]: a new object when absent, else only the keys it lacks; never replaces a non-object. */
function mergeMissing(context: Record<string, unknown>, key: string, fields: Readonly<Record<string, string>>): void {
  const existing = Object.hasOwn(context, key) ? context[key] : undefined;
  if (existing == null) {
    context[key] = { ...fields };
    return;
  }
  if (!isPlainObject(existing)) return;
  for (const k of Object.keys(fields)) if (!Object.hasOwn(existing, k)) existing[k] = fields[k];
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/**
 * The enrich step as a lookup, for a store that enriches in bulk (DuckDB, store/duckdb): an event
 * whose context is an object without ip, browser, os and device gets exactly what `createEnrich` would
 * add, `{ip, browser, os, device}`: ip is the line's `i` as the edge wrote it, the others from this
 * lookup (absent keys for nulls), appended in this order. Events
 * of any other shape go through `createEnrich` itself.
 */
export function createBulkEnrich(opts: EnrichOptions) {
  const parseUa = cachedUaParser(opts.uaCacheSize ?? 1000);
  return {
    userAgent(ua: string): ParsedUa {
      return ua === '' ? { browser: null, os: null, device: null } : parseUa(ua);
    },
  };
}

// ---- user agent ----

/** parse(ua) with a bounded LRU cache in front: real traffic has few distinct user agents. */
export function cachedUaParser(capacity: number): (ua: string) => ParsedUa {
  const parser = new UAParser();
  const cache = new Map<string, ParsedUa>(); // insertion order = recency order
  const parse = (ua: string): ParsedUa => toParsed(parser.setUA(ua).getResult());
  if (capacity <= 0) return parse;
  return (ua) => {
    const hit = cache.get(ua);
    if (hit !== undefined) {
      cache.delete(ua);
      cache.set(ua, hit);
      return hit;
    }
    const parsed = parse(ua);
    if (ua.length <= UA_MAX_CACHED_LENGTH) {
      if (cache.size >= capacity) cache.delete(cache.keys().next().value!);
      cache.set(ua, parsed);
    }
    return parsed;
  };
}

function toParsed(r: UAParser.IResult): ParsedUa {
  const browser = defined({ name: r.browser.name, version: r.browser.version });
  const os = defined({ name: r.os.name, version: r.os.version });
  let type = r.device.type;
  if (type === undefined && r.browser.name !== undefined && r.os.name !== undefined && DESKTOP_OS.has(r.os.name.toLowerCase())) {
    type = 'desktop';
  }
  // Segment's context.device names the maker `manufacturer`; ua-parser calls it `vendor`.
  const device = defined({ type, manufacturer: r.device.vendor, model: r.device.model });
  return { browser, os, device };
}

/** The fields whose value is a non-empty string (copied into each event, never handed out); null when there are none. */
function defined(fields: Record<string, string | undefined>): Readonly<Record<string, string>> | null {
  const out: Record<string, string> = {};
  let any = false;
  for (const [k, v] of Object.entries(fields)) {
    if (typeof v === 'string' && v !== '') {
      out[k] = v;
      any = true;
    }
  }
  return any ? out : null;
}
