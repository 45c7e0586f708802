// Small pure helpers, unit-tested in util.test.ts.

/** A UUID v4: crypto.randomUUID where the page is a secure context, else from getRandomValues. */
export function uuid(): string {
  const c = globalThis.crypto;
  if (c && c.randomUUID) return c.randomUUID();
  const b = new Uint8Array(16);
  if (c) c.getRandomValues(b);
  else for (let i = 0; i < 16; i++) b[i] = (Math.random() * 256) | 0;
  b[6] = (b[6] & 15) | 64;
  b[8] = (b[8] & 63) | 128;
  let h = '';
  for (let i = 0; i < 16; i++) h += (i === 4 || i === 6 || i === 8 || i === 10 ? '-' : '') + (b[i] + 256).toString(16).slice(1);
  return h;
}

/**
 * UTF-8 bytes of a string, never less than the truth: a surrogate pair counts 6 where it takes 4, so
 * a body measured with it is never over a byte budget.
 */
export function utf8Bytes(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 127) n += c > 2047 ? 2 : 1;
  }
  return n;
}

/** Retry-After in ms (delay-seconds or an HTTP date), or 0 when absent or unreadable. */
export function retryAfterMs(value: string | null, now: number): number {
  if (!value) return 0;
  const s = Number(value);
  const ms = s === s ? s * 1000 : Date.parse(value) - now;
  return ms > 0 ? ms : 0;
}

/**
 * The wait before retry number `attempt` (0-based): exponential from `base`, capped at `cap`, with
 * "equal jitter" (half fixed, half random) so that many clients failing together do not retry together;
 * a longer Retry-After wins, up to 10 minutes.
 */
export function backoff(attempt: number, base: number, cap: number, retryAfter: number, random = Math.random()): number {
  const d = Math.min(cap, base * 2 ** attempt) * (0.5 + random / 2);
  return Math.max(d, Math.min(retryAfter, 600_000));
}

/** UTM parameters of a query string as Segment's `context.campaign` (utm_campaign is `name`). */
export function campaign(search: string): Record<string, string> | undefined {
  let c: Record<string, string> | undefined;
  new URLSearchParams(search).forEach((v, k) => {
    if (k.slice(0, 4) === 'utm_' && k.length > 4) (c = c || {})[k === 'utm_campaign' ? 'name' : k.slice(4)] = v;
  });
  return c;
}
