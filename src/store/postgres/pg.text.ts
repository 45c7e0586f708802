// PostgreSQL's text refuses U+0000, and its JSON operators refuse the `\u0000` escape, while events
// may carry NUL in any string (DuckDB keeps them). Every string this store writes (columns, JSON
// values and keys) goes through an injective, order-preserving code that maps NUL away:
//   U+0000 → U+0001 U+0001,   U+0001 → U+0001 U+0002,   every other character → itself.
// Strings without U+0000 and U+0001 (all but hostile ones) are stored unchanged, so plain SQL over
// the tables reads naturally; byte order ("C" collation) is that of the original strings, so
// pagination and sorting match DuckDB's; equality on encoded values is equality on the originals.

const SPECIAL = /[\u0000\u0001]/;
const SPECIAL_ALL = /[\u0000\u0001]/g;
const CODE = /\u0001([\u0001\u0002])/g;

export function enc(s: string): string {
  return SPECIAL.test(s) ? s.replace(SPECIAL_ALL, (c) => (c === '\u0000' ? '\u0001\u0001' : '\u0001\u0002')) : s;
}

export function encNull(s: string | null | undefined): string | null {
  return s === null || s === undefined ? null : enc(s);
}

export function dec(s: string): string {
  return s.includes('\u0001') ? s.replace(CODE, (_, c: string) => (c === '\u0001' ? '\u0000' : '\u0001')) : s;
}

export function decNull(s: string | null): string | null {
  return s === null ? null : dec(s);
}

function mapStrings(v: unknown, f: (s: string) => string): unknown {
  if (typeof v === 'string') return f(v);
  if (Array.isArray(v)) return v.map((x) => mapStrings(x, f));
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v)) {
      // defineProperty: a key like `__proto__` stays ordinary data.
      Object.defineProperty(out, f(k), { value: mapStrings((v as Record<string, unknown>)[k], f), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return v;
}

/** JSON text for a json column: JSON.stringify, with the strings encoded when any holds U+0000 or U+0001. */
export function encJson(v: unknown): string {
  const text = JSON.stringify(v);
  // JSON.stringify writes U+0000 and U+0001 as these escapes. A string holding the six characters
  // `\u0000` matches too (as `\\u0000`): encoding it is needless but harmless (enc is then identity).
  return text.includes('\\u0000') || text.includes('\\u0001') ? JSON.stringify(mapStrings(v, enc)) : text;
}

/** The value of JSON text read from a json column written by encJson. */
export function decJson<T = unknown>(text: string): T {
  const v = JSON.parse(text) as unknown;
  return (text.includes('\\u0001') ? mapStrings(v, dec) : v) as T;
}
