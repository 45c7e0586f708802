import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { messageKey, sipHash128Utf16, sipKey, type SipKey } from './message-key.js';

// ---- an independent, byte-oriented reference: SipHash-2-4-128 as in siphash.c (outlen 16) ----
// The state v0..v3 as (hi, lo) int32 pairs; straightforward rather than fast.
const V = new Int32Array(8);
const V0H = 0, V0L = 1, V1H = 2, V1L = 3, V2H = 4, V2L = 5, V3H = 6, V3L = 7;

/** `rounds` SipRounds over V. */
function sipRounds(rounds: number): void {
  let v0h = V[V0H], v0l = V[V0L], v1h = V[V1H], v1l = V[V1L], v2h = V[V2H], v2l = V[V2L], v3h = V[V3H], v3l = V[V3L];
  let lo: number, hi: number;
  for (let r = 0; r < rounds; r++) {
    // v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32)
    lo = (v0l + v1l) | 0; v0h = (v0h + v1h + ((lo >>> 0) < (v0l >>> 0) ? 1 : 0)) | 0; v0l = lo;
    hi = (v1h << 13) | (v1l >>> 19); lo = (v1l << 13) | (v1h >>> 19);
    v1h = hi ^ v0h; v1l = lo ^ v0l;
    hi = v0h; v0h = v0l; v0l = hi;
    // v2 += v3; v3 = rotl(v3, 16); v3 ^= v2
    lo = (v2l + v3l) | 0; v2h = (v2h + v3h + ((lo >>> 0) < (v2l >>> 0) ? 1 : 0)) | 0; v2l = lo;
    hi = (v3h << 16) | (v3l >>> 16); lo = (v3l << 16) | (v3h >>> 16);
    v3h = hi ^ v2h; v3l = lo ^ v2l;
    // v0 += v3; v3 = rotl(v3, 21); v3 ^= v0
    lo = (v0l + v3l) | 0; v0h = (v0h + v3h + ((lo >>> 0) < (v0l >>> 0) ? 1 : 0)) | 0; v0l = lo;
    hi = (v3h << 21) | (v3l >>> 11); lo = (v3l << 21) | (v3h >>> 11);
    v3h = hi ^ v0h; v3l = lo ^ v0l;
    // v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32)
    lo = (v2l + v1l) | 0; v2h = (v2h + v1h + ((lo >>> 0) < (v2l >>> 0) ? 1 : 0)) | 0; v2l = lo;
    hi = (v1h << 17) | (v1l >>> 15); lo = (v1l << 17) | (v1h >>> 15);
    v1h = hi ^ v2h; v1l = lo ^ v2l;
    hi = v2h; v2h = v2l; v2l = hi;
  }
  V[V0H] = v0h; V[V0L] = v0l; V[V1H] = v1h; V[V1L] = v1l; V[V2H] = v2h; V[V2L] = v2l; V[V3H] = v3h; V[V3L] = v3l;
}

/** One 64-bit message word (hi, lo): v3 ^= m; two rounds; v0 ^= m. */
function compress(mh: number, ml: number): void {
  V[V3H] ^= mh; V[V3L] ^= ml;
  sipRounds(2);
  V[V0H] ^= mh; V[V0L] ^= ml;
}

function init(k: SipKey): void {
  V[V0L] = 0x70736575 ^ k[0]; V[V0H] = 0x736f6d65 ^ k[1];
  V[V1L] = 0x6e646f6d ^ k[2] ^ 0xee; V[V1H] = 0x646f7261 ^ k[3]; // ^ 0xee: the 128-bit variant
  V[V2L] = 0x6e657261 ^ k[0]; V[V2H] = 0x6c796765 ^ k[1];
  V[V3L] = 0x79746573 ^ k[2]; V[V3H] = 0x74656462 ^ k[3];
}

/** Finalisation of the 128-bit variant; writes the tag as four LE words (the reference's 16 bytes). */
function finish(lastH: number, lastL: number, out: Uint32Array, off: number): void {
  compress(lastH, lastL);
  V[V2L] ^= 0xee;
  sipRounds(4);
  out[off] = V[V0L] ^ V[V1L] ^ V[V2L] ^ V[V3L];
  out[off + 1] = V[V0H] ^ V[V1H] ^ V[V2H] ^ V[V3H];
  V[V1L] ^= 0xdd;
  sipRounds(4);
  out[off + 2] = V[V0L] ^ V[V1L] ^ V[V2L] ^ V[V3L];
  out[off + 3] = V[V0H] ^ V[V1H] ^ V[V2H] ^ V[V3H];
}

function sipHash128(k: SipKey, bytes: Uint8Array, out: Uint32Array, off = 0): void {
  init(k);
  const len = bytes.length;
  const end = len - (len % 8);
  const b = bytes;
  for (let i = 0; i < end; i += 8) {
    compress(
      b[i + 4] | (b[i + 5] << 8) | (b[i + 6] << 16) | (b[i + 7] << 24),
      b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24),
    );
  }
  let lo = 0, hi = (len & 0xff) << 24;
  for (let j = 0; j < len - end; j++) {
    if (j < 4) lo |= b[end + j] << (8 * j);
    else hi |= b[end + j] << (8 * (j - 4));
  }
  finish(hi, lo, out, off);
}



// vectors_sip128 of the reference implementation (github.com/veorq/SipHash, vectors.h): SipHash-2-4
// with 128-bit output, key 00 01 .. 0f, message 00 01 .. (len-1) for len 0..63.
const SIP128 = [
  'a3817f04ba25a8e66df67214c7550293', 'da87c1d86b99af44347659119b22fc45', '8177228da4a45dc7fca38bdef60affe4', '9c70b60c5267a94e5f33b6b02985ed51',
  'f88164c12d9c8faf7d0f6e7c7bcd5579', '1368875980776f8854527a07690e9627', '14eeca338b208613485ea0308fd7a15e', 'a1f1ebbed8dbc153c0b84aa61ff08239',
  '3b62a9ba6258f5610f83e264f31497b4', '264499060ad9baabc47f8b02bb6d71ed', '00110dc378146956c95447d3f3d0fbba', '0151c568386b6677a2b4dc6f81e5dc18',
  'd626b266905ef35882634df68532c125', '9869e247e9c08b10d029934fc4b952f7', '31fcefac66d7de9c7ec7485fe4494902', '5493e99933b0a8117e08ec0f97cfc3d9',
  '6ee2a4ca67b054bbfd3315bf85230577', '473d06e8738db89854c066c47ae47740', 'a426e5e423bf4885294da481feaef723', '78017731cf65fab074d5208952512eb1',
  '9e25fc833f2290733e9344a5e83839eb', '568e495abe525a218a2214cd3e071d12', '4a29b54552d16b9a469c10528eff0aae', 'c9d184ddd5a9f5e0cf8ce29a9abf691c',
  '2db479ae78bd50d8882a8a178a6132ad', '8ece5f042d5e447b5051b9eacb8d8f6f', '9c0b53b4b3c307e87eaee08678141f66', 'abf248af69a6eae4bfd3eb2f129eeb94',
  '0664da1668574b88b935f3027358aef4', 'aa4b9dc4bf337de90cd4fd3c467c6ab7', 'ea5c7f471faf6bde2b1ad7d4686d2287', '2939b0183223fafc1723de4f52c43d35',
  '7c3956ca5eeafc3e363e9d556546eb68', '77c6077146f01c32b6b69d5f4ea9ffcf', '37a6986cb8847edf0925f0f1309b54de', 'a705f0e69da9a8f907241a2e923c8cc8',
  '3dc47d1f29c448461e9e76ed904f6711', '0d62bf01e6fc0e1a0d3c4751c5d3692b', '8c03468bca7c669ee4fd5e084bbee7b5', '528a5bb93baf2c9c4473cce5d0d22bd9',
  'df6a301e95c95dad97ae0cc8c6913bd8', '801189902c857f39e73591285e70b6db', 'e617346ac9c231bb3650ae34ccca0c5b', '27d93437efb721aa401821dcec5adf89',
  '89237d9ded9c5e78d8b1c9b166cc7342', '4a6d8091bf5e7d651189fa94a250b14c', '0e33f96055e7ae893ffc0e3dcf492902', 'e61c432b720b19d18ec8d84bdc63151b',
  'f7e5aef549f782cf379055a608269b16', '438d030fd0b7a54fa837f2ad201a6403', 'a590d3ee4fbf04e3247e0d27f286423f', '5fe2c1a172fe93c4b15cd37caef9f538',
  '2c97325cbd06b36eb2133dd08b3a017c', '92c814227a6bca949ff0659f002ad39e', 'dce850110bd8328cfbd50841d6911d87', '67f14984c7da791248e32bb5922583da',
  '1938f2cf72d54ee97e94166fa91d2a36', '74481e9646ed49fe0f6224301604698e', '57fca5de98a9d6d8006438d0583d8a1d', '9fecde1cefdc1cbed4763674d9575359',
  'e3040c00eb28f15366ca73cbd872e740', '7697009a6a831dfecca91c5993670f7a', '5853542321f567a005d547a4f04759bd', '5150d1772f50834a503e069a973fbd7c',
];

const REF_KEY = sipKey(Uint8Array.from({ length: 16 }, (_, i) => i));
const hex = (w: Uint32Array) => Buffer.from(w.buffer, w.byteOffset, 16).toString('hex');

function utf16le(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'utf16le'));
}

describe('SipHash-2-4-128', () => {
  it('matches the reference implementation’s 64 vectors', () => {
    const out = new Uint32Array(4);
    for (let len = 0; len < 64; len++) {
      sipHash128(REF_KEY, Uint8Array.from({ length: len }, (_, i) => i), out);
      expect(hex(out), `len ${len}`).toBe(SIP128[len]);
    }
  });

  it('over a string equals the reference over its UTF-16LE bytes (every length, any code unit)', () => {
    const key = sipKey(randomBytes(16));
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 80 }), fc.uint8Array({ minLength: 16, maxLength: 16 }), (s, k) => {
        const a = new Uint32Array(4), b = new Uint32Array(4);
        sipHash128Utf16(sipKey(k), s, a);
        sipHash128(sipKey(k), utf16le(s), b);
        expect(hex(a)).toBe(hex(b));
      }),
      { numRuns: 2000 },
    );
    // Lone surrogates too: code units, not code points.
    const a = new Uint32Array(4), b = new Uint32Array(4);
    sipHash128Utf16(key, 'x\ud800y', a);
    sipHash128(key, new Uint8Array([0x78, 0, 0x00, 0xd8, 0x79, 0]), b);
    expect(hex(a)).toBe(hex(b));
  });
});

describe('messageKey', () => {
  const key = sipKey(randomBytes(16));
  const k = (project: string, id: string, secret = key) => {
    const out = new Uint32Array(4);
    messageKey(secret, project, id, out, 0);
    return hex(out);
  };

  it('is stable for one secret and differs across secrets, projects and ids', () => {
    expect(k('p', 'm1')).toBe(k('p', 'm1'));
    expect(k('p', 'm1')).not.toBe(k('p', 'm2'));
    expect(k('p', 'm1')).not.toBe(k('q', 'm1'));
    expect(k('p', 'm1')).not.toBe(k('p', 'm1', sipKey(randomBytes(16))));
    // The separator keeps (project, id) pairs apart that concatenate alike.
    expect(k('ab', 'c')).not.toBe(k('a', 'bc'));
  });

  it('gives distinct keys to distinct ids (no collisions among 200k random and near-identical ids)', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 100_000; i++) seen.add(k('p', `msg_${i}`));
    for (let i = 0; i < 100_000; i++) seen.add(k('p', `${String(i).padStart(16, '0')}`));
    expect(seen.size).toBe(200_000);
  });
});
