// npm run chaos: the long chaos check. CHAOS_SECONDS (default 60) of SIGKILLs every 1-10 s.
import { expect, it } from 'vitest';
import { runChaos } from '../helpers/chaos.js';

it('chaos soak', async () => {
  const seconds = Number(process.env.CHAOS_SECONDS ?? 60);
  const r = await runChaos({ seconds, killEveryMs: [1000, 10_000], log: (l) => console.log(l) });
  console.log(JSON.stringify({ seconds, ...r }, null, 2));
  expect({ lost: r.lost, duplicates: r.duplicates, phantoms: r.phantoms, mismatched: r.mismatched }).toEqual({ lost: 0, duplicates: 0, phantoms: 0, mismatched: 0 });
}, 3_600_000);
