// The short chaos check of `npm test` (the long one is `npm run chaos`): lost, duplicates and phantoms are 0.
import { describe, expect, it } from 'vitest';
import { runChaos } from '../helpers/chaos.js';

describe('chaos (short)', () => {
  it('SIGKILL every 1-3 s for 15 s under retrying clients: nothing acknowledged is lost, nothing is stored twice', async () => {
    const r = await runChaos({ seconds: 15, killEveryMs: [1000, 3000] });
    // A kill waits for the previous restart to be ready: 3-7 kills on an idle machine, 2 on a loaded one.
    expect(r.kills).toBeGreaterThanOrEqual(2);
    expect(r.acknowledged).toBeGreaterThan(1000);
    expect({ lost: r.lost, duplicates: r.duplicates, phantoms: r.phantoms, mismatched: r.mismatched }).toEqual({ lost: 0, duplicates: 0, phantoms: 0, mismatched: 0 });
    // Every client retried until acknowledged: nothing was left unknown, so everything sent is stored once.
    expect(r.unknown).toBe(0);
    expect(r.stored).toBe(r.sent);
  }, 180_000);
});
