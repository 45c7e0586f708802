// IP address text: unmapping IPv4-mapped IPv6 and truncating for privacy (SOLUTE_IP_MODE=truncate).
// Used by the HTTP edge (once per request, on the client IP it writes into the log) and by the
// processor's enrich step (on context.ip, client-sent ones included).
import net from 'node:net';

/** `::ffff:1.2.3.4` (an IPv4 client on a dual-stack socket) → `1.2.3.4`; anything else as is. */
export function unmapIPv4(ip: string): string {
  if (ip.length > 7 && ip.slice(0, 7).toLowerCase() === '::ffff:' && net.isIPv4(ip.slice(7))) return ip.slice(7);
  return ip;
}

/**
 * IPv4 → its /24 (`1.2.3.0`); IPv6 → its /48 (`2001:db8:1::`), zone index dropped; an IPv4-mapped IPv6
 * address is truncated as the IPv4 address it is. Not an IP (or not a string): null.
 */
export function truncateIp(ip: unknown): string | null {
  if (typeof ip !== 'string') return null;
  const v4 = unmapIPv4(ip.trim());
  if (net.isIPv4(v4)) return v4.slice(0, v4.lastIndexOf('.')) + '.0';
  const pct = v4.indexOf('%');
  const v6 = pct === -1 ? v4 : v4.slice(0, pct);
  if (!net.isIPv6(v6)) return null;
  const w = ipv6Words(v6);
  if (w === null) return null;
  if (w[0] === 0 && w[1] === 0 && w[2] === 0 && w[3] === 0 && w[4] === 0 && w[5] === 0xffff) {
    return `${w[6] >> 8}.${w[6] & 0xff}.${w[7] >> 8}.0`; // IPv4-mapped in hex form (`::ffff:cb00:714d`)
  }
  return formatIPv6([w[0], w[1], w[2], 0, 0, 0, 0, 0]);
}

/** The 8 16-bit words of an address net.isIPv6 accepted (`::` and a trailing dotted IPv4 allowed). */
function ipv6Words(ip: string): number[] | null {
  let text = ip;
  const lastColon = text.lastIndexOf(':');
  if (text.indexOf('.', lastColon) !== -1) {
    // A trailing dotted IPv4 (`::ffff:1.2.3.4`, `64:ff9b::1.2.3.4`) is the last two words.
    const b = text.slice(lastColon + 1).split('.').map(Number);
    text = text.slice(0, lastColon + 1) + ((b[0] << 8) | b[1]).toString(16) + ':' + ((b[2] << 8) | b[3]).toString(16);
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const parse = (s: string) => (s === '' ? [] : s.split(':').map((h) => parseInt(h, 16)));
  const head = parse(halves[0]);
  const rest = halves.length === 2 ? parse(halves[1]) : [];
  const known = head.length + rest.length;
  if (halves.length === 1 ? known !== 8 : known > 7) return null;
  const words = [...head, ...new Array<number>(8 - known).fill(0), ...rest];
  return words.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffff) ? words : null;
}

/** RFC 5952 text: lowercase, no leading zeros, the longest run (2+) of zero words as `::`. */
function formatIPv6(words: number[]): string {
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestStart === -1) return hex.join(':');
  return hex.slice(0, bestStart).join(':') + '::' + hex.slice(bestStart + bestLen).join(':');
}

/**
 * The request's client IP in the form the log line's `i` holds it (contracts/log-line.ts), worked out
 * once per request at the edge: unmapped, its /24 or /48 with `truncate`, null with `drop`. It is what
 * the enrich step puts in context.ip, so an event the bulk rule covers needs no IP work afterwards.
 */
export function storedClientIp(clientIp: string | null, mode: 'keep' | 'truncate' | 'drop'): string | null {
  if (clientIp === null || mode === 'drop') return null;
  return mode === 'truncate' ? truncateIp(unmapIPv4(clientIp)) : unmapIPv4(clientIp);
}
