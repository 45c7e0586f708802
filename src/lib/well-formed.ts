/**
 * A deep copy with every string (keys included) made well-formed UTF-16: lone surrogates (e.g. an
 * emoji cut in half by a client) become U+FFFD. JSON and JavaScript allow them; DuckDB does not.
 */
export function wellFormed(v: unknown): unknown {
  if (typeof v === 'string') return v.toWellFormed();
  if (Array.isArray(v)) return v.map(wellFormed);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    // defineProperty, not assignment: a `__proto__` key stays a plain key instead of replacing out's prototype.
    for (const [k, x] of Object.entries(v)) Object.defineProperty(out, k.toWellFormed(), { value: wellFormed(x), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return v;
}

/**
 * Could this JSON text (from JSON.stringify) hold a lone surrogate? JSON.stringify writes them as
 * `\udXXX` escapes; false positives (a literal backslash followed by "ud") only cost a re-check.
 */
export function mayHoldLoneSurrogate(json: string): boolean {
  return json.includes('\\ud');
}
