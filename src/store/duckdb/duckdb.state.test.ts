// composeRepoints: one mapping that moves stored ids exactly where the repoints, applied one after
// another, would have moved them.
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { composeRepoints } from './duckdb.state.js';

it('moves every stored id where the repoints applied in order would (property)', () => {
  const profile = fc.constantFrom('A', 'B', 'C', 'D', 'E');
  fc.assert(
    fc.property(fc.array(fc.record({ from: profile, to: profile }), { maxLength: 12 }), fc.array(profile, { maxLength: 8 }), (repoints, stored) => {
      const sequential = stored.map((p) => repoints.reduce((at, r) => (at === r.from ? r.to : at), p));
      const moves = composeRepoints(repoints);
      expect(stored.map((p) => moves.get(p) ?? p)).toEqual(sequential);
    }),
    { numRuns: 2000 },
  );
});
