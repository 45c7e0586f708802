import { describe, expect, it } from 'vitest';
import { RecentKeys } from './recent-keys.js';

function claim(r: RecentKeys, id: string) {
  const k = new Uint32Array(4);
  r.key('p', id, k, 0);
  return r.claim(k, 0, 0, 'p');
}

describe('RecentKeys (best-effort dedupe of a cluster ingest process)', () => {
  it('reports a key seen before as present, and never refuses one', () => {
    const r = new RecentKeys(2000);
    for (let i = 0; i < 1000; i++) expect(claim(r, `m${i}`)).toBe('inserted');
    for (let i = 0; i < 1000; i++) expect(claim(r, `m${i}`)).toBe('present');
    // Far past one generation: still no 'full', memory bounded by two generations.
    for (let i = 1000; i < 20_000; i++) expect(claim(r, `m${i}`)).toBe('inserted');
    expect(r.stats().occupied).toBeLessThanOrEqual(4000);
    // The newest keys are still known; the oldest were forgotten (the store's unique key catches them).
    expect(claim(r, 'm19999')).toBe('present');
    expect(claim(r, 'm0')).toBe('inserted');
  });

  it('forgets released keys, so a retry after a failed write is accepted', () => {
    const r = new RecentKeys(100);
    const k = new Uint32Array(4);
    r.key('p', 'x', k, 0);
    expect(r.claim(k, 0, 0, 'p')).toBe('inserted');
    r.release(k, new Uint16Array(1), 1, 'p');
    expect(r.claim(k, 0, 0, 'p')).toBe('inserted');
  });
});
