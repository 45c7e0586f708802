import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { messageKey } from './message-key.js';

// ---- an independent reference: MurmurHash3_x86_128 over bytes, as in Austin Appleby's C code -----

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

function murmur3x86_128(data: Uint8Array, seed: number): [number, number, number, number] {
  const c1 = 0x239b961b, c2 = 0xab0e9789, c3 = 0x38b34ae5, c4 = 0xa1e38b93;
  let h1 = seed | 0, h2 = seed | 0, h3 = seed | 0, h4 = seed | 0;
  const len = data.length;
  const nblocks = Math.floor(len / 16);
  const word = (i: number) => data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24);
  for (let b = 0; b < nblocks; b++) {
    let k1 = word(b * 16), k2 = word(b * 16 + 4), k3 = word(b * 16 + 8), k4 = word(b * 16 + 12);
    k1 = Math.imul(k1, c1); k1 = rotl(k1, 15); k1 = Math.imul(k1, c2); h1 ^= k1;
    h1 = rotl(h1, 19); h1 = (h1 + h2) | 0; h1 = (Math.imul(h1, 5) + 0x561ccd1b) | 0;
    k2 = Math.imul(k2, c2); k2 = rotl(k2, 16); k2 = Math.imul(k2, c3); h2 ^= k2;
    h2 = rotl(h2, 17); h2 = (h2 + h3) | 0; h2 = (Math.imul(h2, 5) + 0x0bcaa747) | 0;
    k3 = Math.imul(k3, c3); k3 = rotl(k3, 17); k3 = Math.imul(k3, c4); h3 ^= k3;
    h3 = rotl(h3, 15); h3 = (h3 + h4) | 0; h3 = (Math.imul(h3, 5) + 0x96cd1c35) | 0;
    k4 = Math.imul(k4, c4); k4 = rotl(k4, 18); k4 = Math.imul(k4, c1); h4 ^= k4;
    h4 = rotl(h4, 13); h4 = (h4 + h1) | 0; h4 = (Math.imul(h4, 5) + 0x32ac3b17) | 0;
  }
  const tail = nblocks * 16;
  const rest = len & 15;
  const t = (i: number) => data[tail + i];
  let k1 = 0, k2 = 0, k3 = 0, k4 = 0;
  // The C switch falls through from `rest` down to 1.
  if (rest >= 15) k4 ^= t(14) << 16;
  if (rest >= 14) k4 ^= t(13) << 8;
  if (rest >= 13) { k4 ^= t(12); k4 = Math.imul(k4, c4); k4 = rotl(k4, 18); k4 = Math.imul(k4, c1); h4 ^= k4; }
  if (rest >= 12) k3 ^= t(11) << 24;
  if (rest >= 11) k3 ^= t(10) << 16;
  if (rest >= 10) k3 ^= t(9) << 8;
  if (rest >= 9) { k3 ^= t(8); k3 = Math.imul(k3, c3); k3 = rotl(k3, 17); k3 = Math.imul(k3, c4); h3 ^= k3; }
  if (rest >= 8) k2 ^= t(7) << 24;
  if (rest >= 7) k2 ^= t(6) << 16;
  if (rest >= 6) k2 ^= t(5) << 8;
  if (rest >= 5) { k2 ^= t(4); k2 = Math.imul(k2, c2); k2 = rotl(k2, 16); k2 = Math.imul(k2, c3); h2 ^= k2; }
  if (rest >= 4) k1 ^= t(3) << 24;
  if (rest >= 3) k1 ^= t(2) << 16;
  if (rest >= 2) k1 ^= t(1) << 8;
  if (rest >= 1) { k1 ^= t(0); k1 = Math.imul(k1, c1); k1 = rotl(k1, 15); k1 = Math.imul(k1, c2); h1 ^= k1; }
  h1 ^= len; h2 ^= len; h3 ^= len; h4 ^= len;
  h1 = (h1 + h2) | 0; h1 = (h1 + h3) | 0; h1 = (h1 + h4) | 0;
  h2 = (h2 + h1) | 0; h3 = (h3 + h1) | 0; h4 = (h4 + h1) | 0;
  h1 = fmix(h1); h2 = fmix(h2); h3 = fmix(h3); h4 = fmix(h4);
  h1 = (h1 + h2) | 0; h1 = (h1 + h3) | 0; h1 = (h1 + h4) | 0;
  h2 = (h2 + h1) | 0; h3 = (h3 + h1) | 0; h4 = (h4 + h1) | 0;
  return [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0];
}

/** UTF-16 code units, little-endian, lone surrogates included (what messageKey hashes). */
function utf16le(s: string): Uint8Array {
  const out = new Uint8Array(s.length * 2);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out[2 * i] = c & 0xff;
    out[2 * i + 1] = c >>> 8;
  }
  return out;
}

const hex = (w: ArrayLike<number>) => Array.from(w, (x) => x.toString(16).padStart(8, '0')).join('');

function mk(seed: number, project: string, messageId: string): string {
  const out = new Uint32Array(4);
  messageKey(seed, project, messageId, out, 0);
  return hex(out);
}

/** A small deterministic PRNG for bulk inputs. */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    return x >>> 0;
  };
}

/** Random strings mixing ASCII, Latin-1, BMP, astral characters (surrogate pairs) and lone surrogates. */
function randomString(next: () => number, length: number): string {
  let s = '';
  while (s.length < length) {
    const kind = next() % 10;
    if (kind < 5) s += String.fromCharCode(0x20 + (next() % 95));
    else if (kind < 6) s += String.fromCharCode(0x80 + (next() % 0x180));
    else if (kind < 8) s += String.fromCharCode(0x100 + (next() % 0xd700));
    else if (kind < 9 && s.length + 2 <= length) s += String.fromCodePoint(0x10000 + (next() % 0xfffff));
    else s += String.fromCharCode(0xd800 + (next() % 0x800)); // lone surrogate
  }
  return s;
}

// ---- tests -------------------------------------------------------------------------------------

describe('reference implementation (self-check against published vectors)', () => {
  it.each([
    [123, 'Hello, world!', '61c9129e5a1aacd7a41621629e37c886'],
    [321, 'Hello, world!', 'd5fbdcb3c26c4193045880c5a7170f0f'],
    [123, 'xxxxxxxxxxxxxxxxxxxxxxxxxxxx', '5e40bab278825a164cf929d31fec6047'],
    [123, '', 'fedc524526f3e79926f3e79926f3e799'],
  ])('seed %i, %j', (seed, input, expected) => {
    expect(hex(murmur3x86_128(new TextEncoder().encode(input), seed))).toBe(expected);
  });
});

describe('messageKey', () => {
  it('is MurmurHash3_x86_128 of `project \\0 messageId` in UTF-16LE, for every messageId length 0..40', () => {
    const next = rng(2024);
    for (const project of ['', 'p', 'test', 'a-much-longer-project.name_0123456789']) {
      for (let len = 0; len <= 40; len++) {
        for (let k = 0; k < 8; k++) {
          const messageId = k === 0 ? 'x'.repeat(len) : randomString(next, len);
          expect(messageId.length).toBe(len);
          for (const seed of [0, 1, 0x7fffffff, 0xffffffff, next()]) {
            const want = hex(murmur3x86_128(utf16le(project + '\u0000' + messageId), seed));
            expect(mk(seed, project, messageId), `${JSON.stringify(project)} ${JSON.stringify(messageId)} seed ${seed}`).toBe(want);
          }
        }
      }
    }
  });

  it('matches the reference for arbitrary strings (property)', () => {
    fc.assert(
      fc.property(fc.nat(), fc.string({ maxLength: 64 }), fc.string({ unit: 'binary', maxLength: 80 }), (seed, project, messageId) => {
        expect(mk(seed, project, messageId)).toBe(hex(murmur3x86_128(utf16le(project + '\u0000' + messageId), seed)));
      }),
      { numRuns: 1000 },
    );
  });

  it('is deterministic and writes exactly its four words at the offset', () => {
    fc.assert(
      fc.property(fc.nat(), fc.string(), fc.string({ unit: 'binary' }), fc.integer({ min: 0, max: 8 }), (seed, project, messageId, slot) => {
        const a = new Uint32Array(40).fill(0xdeadbeef);
        const b = new Uint32Array(40);
        messageKey(seed, project, messageId, a, slot * 4);
        messageKey(seed, project, messageId, b, 0);
        expect(hex(a.subarray(slot * 4, slot * 4 + 4))).toBe(hex(b.subarray(0, 4)));
        a.forEach((w, i) => {
          if (i < slot * 4 || i >= slot * 4 + 4) expect(w).toBe(0xdeadbeef);
        });
        expect(mk(seed, project, messageId)).toBe(mk(seed, project, messageId));
      }),
      { numRuns: 300 },
    );
  });

  it('depends on the seed', () => {
    fc.assert(
      fc.property(fc.nat(), fc.nat(), fc.string({ unit: 'binary', maxLength: 60 }), (s1, s2, messageId) => {
        fc.pre(s1 !== s2);
        expect(mk(s1, 'test', messageId)).not.toBe(mk(s2, 'test', messageId));
      }),
      { numRuns: 1000 },
    );
  });

  it('gives 100,000 different random strings 100,000 different keys', () => {
    const next = rng(7);
    const inputs = new Set<string>();
    while (inputs.size < 100_000) inputs.add(randomString(next, next() % 41));
    const keys = new Set<string>();
    const out = new Uint32Array(4);
    for (const s of inputs) {
      messageKey(0x1234abcd, 'test', s, out, 0);
      keys.add(`${out[0]},${out[1]},${out[2]},${out[3]}`);
    }
    expect(keys.size).toBe(inputs.size);
  });

  it('changes when any one code unit of the messageId changes, at every length 1..40 and position', () => {
    const next = rng(99);
    for (let len = 1; len <= 40; len++) {
      const base = randomString(next, len);
      const baseKey = mk(42, 'test', base);
      for (let pos = 0; pos < len; pos++) {
        const c = base.charCodeAt(pos);
        for (const flip of [1, 0x100, 0x8000]) {
          const changed = base.slice(0, pos) + String.fromCharCode(c ^ flip) + base.slice(pos + 1);
          expect(mk(42, 'test', changed), `len ${len} pos ${pos} flip ${flip}`).not.toBe(baseKey);
        }
      }
      // Appending a NUL (a zero code unit) changes the key too: the length is hashed.
      expect(mk(42, 'test', base + '\u0000')).not.toBe(baseKey);
    }
  });

  it('separates projects and non-ASCII look-alikes', () => {
    expect(mk(1, 'a', 'bc')).not.toBe(mk(1, 'ab', 'c'));
    expect(mk(1, 'proj1', 'm')).not.toBe(mk(1, 'proj2', 'm'));
    expect(mk(1, 'p', 'e')).not.toBe(mk(1, 'p', 'é'));
    expect(mk(1, 'p', 'a')).not.toBe(mk(1, 'p', '\u0161')); // same low byte
    expect(mk(1, 'p', 'é')).not.toBe(mk(1, 'p', 'e\u0301')); // NFC vs NFD: different strings, different keys
    expect(mk(1, 'p', '📦')).not.toBe(mk(1, 'p', '\ud83d'));
    expect(mk(1, 'p', '')).not.toBe(mk(1, '', 'p'));
  });
});
