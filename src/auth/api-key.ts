// API key format: `wk_` (write, public, ingest only) or `sk_` (secret, read only) + 32 base62 characters
// (~190 bits). Stored as SHA-256: the keys are random, so a slow KDF would add nothing but latency.
import crypto from 'node:crypto';
import type { KeyKind } from '../contracts/key-store.js';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const BODY_LENGTH = 32;
/** Characters of a key shown by `keys list` and accepted by `keys revoke`: the kind prefix + 8. */
export const DISPLAY_PREFIX_LENGTH = 11;

export const KIND_PREFIX: Record<KeyKind, string> = { write: 'wk_', secret: 'sk_' };

export function generateKey(kind: KeyKind): string {
  let body = '';
  while (body.length < BODY_LENGTH) {
    for (const b of crypto.randomBytes(BODY_LENGTH)) {
      if (b < 248 && body.length < BODY_LENGTH) body += ALPHABET[b % 62]; // 248 = 4*62: no modulo bias
    }
  }
  return KIND_PREFIX[kind] + body;
}

export function hashKey(key: string): Buffer {
  return crypto.createHash('sha256').update(key, 'utf8').digest();
}

export function displayPrefix(key: string): string {
  return key.slice(0, DISPLAY_PREFIX_LENGTH);
}

/** Keys are only ever looked up by hash; this guards the final comparison against timing probes. */
export function sameHash(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

export const PROJECT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
