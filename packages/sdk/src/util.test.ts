import { describe, expect, it } from 'vitest';
import { backoff, campaign, retryAfterMs, utf8Bytes, uuid } from './util.js';

const V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('sdk utilities', () => {
  it('uuid: v4, also where crypto.randomUUID is missing (pages that are not a secure context)', () => {
    expect(uuid()).toMatch(V4);
    const c = globalThis.crypto;
    const bare = { getRandomValues: c.getRandomValues.bind(c) };
    Object.defineProperty(globalThis, 'crypto', { value: bare, configurable: true });
    try {
      const ids = Array.from({ length: 1000 }, uuid);
      for (const id of ids) expect(id).toMatch(V4);
      expect(new Set(ids).size).toBe(1000);
    } finally {
      Object.defineProperty(globalThis, 'crypto', { value: c, configurable: true });
    }
  });

  it('utf8Bytes: exact for 1-3 byte characters, never under for pairs and lone surrogates', () => {
    for (const s of ['', 'abc', 'é', 'ü€', '日本語', '{"a":"\u0000"}']) expect(utf8Bytes(s)).toBe(Buffer.byteLength(s));
    for (const s of ['😀', 'a😀b', '\ud83d', '\ude00x']) expect(utf8Bytes(s)).toBeGreaterThanOrEqual(Buffer.byteLength(s));
  });

  it('retryAfterMs: delay-seconds or an HTTP date; absent, past or unreadable is 0', () => {
    const now = Date.parse('2025-01-15T10:30:00Z');
    expect(retryAfterMs('3', now)).toBe(3000);
    expect(retryAfterMs('0', now)).toBe(0);
    expect(retryAfterMs(null, now)).toBe(0);
    expect(retryAfterMs('soon', now)).toBe(0);
    expect(retryAfterMs('Wed, 15 Jan 2025 10:30:07 GMT', now)).toBe(7000);
    expect(retryAfterMs('Wed, 15 Jan 2025 10:29:00 GMT', now)).toBe(0);
  });

  it('backoff: doubles from the base with jitter between half and all of it, capped, and a longer Retry-After wins up to 10 minutes', () => {
    expect(backoff(0, 1000, 30_000, 0, 0)).toBe(500);
    expect(backoff(0, 1000, 30_000, 0, 1)).toBe(1000);
    expect(backoff(3, 1000, 30_000, 0, 1)).toBe(8000);
    expect(backoff(10, 1000, 30_000, 0, 1)).toBe(30_000);
    expect(backoff(10, 1000, 30_000, 0, 0)).toBe(15_000);
    expect(backoff(0, 1000, 30_000, 5000, 1)).toBe(5000);
    expect(backoff(0, 1000, 30_000, 3_600_000, 1)).toBe(600_000);
    for (let a = 0; a < 40; a++) {
      const d = backoff(a, 1000, 30_000, 0);
      expect(d).toBeGreaterThanOrEqual(Math.min(30_000, 1000 * 2 ** a) / 2);
      expect(d).toBeLessThanOrEqual(30_000);
    }
  });

  it('campaign: utm_* parameters as context.campaign, utm_campaign named name', () => {
    expect(campaign('?utm_source=news&utm_medium=email&utm_campaign=spring&utm_term=shoes&utm_content=b&x=1')).toEqual({
      source: 'news',
      medium: 'email',
      name: 'spring',
      term: 'shoes',
      content: 'b',
    });
    expect(campaign('?x=1')).toBeUndefined();
    expect(campaign('')).toBeUndefined();
    expect(campaign('?utm_=x')).toBeUndefined();
  });
});
