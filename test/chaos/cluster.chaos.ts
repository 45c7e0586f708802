// npm run chaos, cluster part: CHAOS_SECONDS (default 60) of a 3-node NATS JetStream cluster (R3) with
// 2 ingest and 2 processor Solute processes on PostgreSQL; a Solute process is SIGKILLed every 2-10 s
// and one NATS node once. Skipped (with a message) where nats-server or PostgreSQL is missing.
import fs from 'node:fs';
import { expect, it } from 'vitest';
import { runClusterChaos } from '../helpers/cluster-chaos.js';
import { NATS_SERVER } from '../helpers/nats-cluster.js';
import { requirePostgres } from '../helpers/services.js';

const ready = fs.existsSync(NATS_SERVER) && (await requirePostgres()) !== null;

it.skipIf(!ready)('cluster chaos soak', async () => {
  const seconds = Number(process.env.CHAOS_SECONDS ?? 60);
  const r = await runClusterChaos({ seconds, killEveryMs: [2000, 10_000], clients: 4, batchSize: 20, paceMs: 10, log: (l) => console.log(l) });
  console.log(JSON.stringify({ seconds, ...r }, null, 2));
  expect({ lost: r.lost, duplicates: r.duplicates, phantoms: r.phantoms, mismatched: r.mismatched }).toEqual({ lost: 0, duplicates: 0, phantoms: 0, mismatched: 0 });
}, 3_600_000);
