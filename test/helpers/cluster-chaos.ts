// The cluster chaos check: a 3-node NATS JetStream cluster (R3 stream), 2 ingest and 2 processor
// Solute processes on PostgreSQL, SDK-like clients with retries spread over both ingest processes;
// meanwhile Solute processes and one NATS node are SIGKILLed and brought back. Afterwards every event
// is read back and compared with what was sent and acknowledged.
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import pg from 'pg';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { BIN, freePort, sleep, spawnServer, tempDir, type ChildServer } from './solute.js';
import { startNatsCluster } from './nats-cluster.js';
import { sdkClient, tally, type ChaosReport, type ClientLedger } from './chaos.js';

import { PG_URL } from './services.js';
export { PG_URL };

export interface ClusterChaosOptions {
  seconds: number;
  /** A Solute process is killed every min..max ms. */
  killEveryMs: [number, number];
  clients?: number;
  batchSize?: number;
  /** Pause of each client between two acknowledged batches (bounds the offered rate, so the drain is short). */
  paceMs?: number;
  log?: (line: string) => void;
}

interface Proc {
  role: 'ingest' | 'processor';
  port: number;
  dataDir: string;
  server: ChildServer | null;
}

export async function runClusterChaos(opts: ClusterChaosOptions): Promise<ChaosReport & { natsKills: number; midTransactionKills: number }> {
  const log = opts.log ?? (() => undefined);
  const nats = await startNatsCluster(3);
  const schema = `solute_cluster_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);

  const stream = `chaos_${randomBytes(3).toString('hex')}`;
  const env = {
    SOLUTE_LOG: nats.urls.join(','),
    SOLUTE_STORE: PG_URL,
    SOLUTE_PG_SCHEMA: schema,
    SOLUTE_NATS_STREAM: stream,
    SOLUTE_NATS_REPLICAS: '3',
    SOLUTE_KEY_REFRESH_MS: '200',
  };
  const cliEnv = { ...process.env, ...env, SOLUTE_DATA_DIR: tempDir() };
  const writeKey = execFileSync(BIN, ['keys', 'create', '--project', 'chaos'], { env: cliEnv, encoding: 'utf8' }).trim();
  const secretKey = execFileSync(BIN, ['keys', 'create', '--project', 'chaos', '--secret'], { env: cliEnv, encoding: 'utf8' }).trim();

  const procs: Proc[] = [];
  for (const role of ['ingest', 'ingest', 'processor', 'processor'] as const) {
    procs.push({ role, port: await freePort(), dataDir: tempDir('solute-cluster-'), server: null });
  }
  // Each process's PostgreSQL connections carry its name, so a kill can wait for its open transaction.
  const appName = (p: Proc) => `solute-chaos-${p.role}-${p.port}`;
  const start = async (p: Proc) => {
    const store = `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}application_name=${appName(p)}`;
    p.server = await spawnServer(p.dataDir, { ...env, SOLUTE_ROLE: p.role, SOLUTE_STORE: store }, p.port);
  };
  await Promise.all(procs.map(start));
  const ingestUrls = procs.filter((p) => p.role === 'ingest').map((p) => `http://127.0.0.1:${p.port}`);

  const ledger: ClientLedger = { sent: new Map(), acked: new Set(), unknown: new Set() };
  let kills = 0;
  let natsKills = 0;
  let midTransactionKills = 0;
  const end = Date.now() + opts.seconds * 1000;
  // Like an SDK behind a load balancer: each attempt may reach either ingest process. A process
  // loads the keys before it listens, so a 401 is a failure here too.
  const client = sdkClient(
    { urls: () => ingestUrls, writeKey, end, batchSize: opts.batchSize, paceMs: opts.paceMs, prefix: 'cluster' },
    ledger,
    { n: 0 },
  );

  // Kills keep their pace whatever a restart takes (on a loaded machine a restart can take longer than
  // the gap between kills): a killed process comes back in the background, and a process is killed
  // only while another of its role is up, so ingest and processing never stop altogether.
  const killSolute = async () => {
    const restarts: Array<Promise<void>> = [];
    let attempt = 0;
    while (Date.now() < end) {
      const [min, max] = opts.killEveryMs;
      await sleep(min + Math.random() * (max - min));
      if (Date.now() >= end) break;
      // Roles in turn, a processor first: every run kills both kinds.
      const role = attempt++ % 2 === 0 ? 'processor' : 'ingest';
      const ofRole = procs.filter((q) => q.role === role);
      const p = ofRole[Math.floor(Math.random() * ofRole.length)];
      const server = p.server;
      if (!server || !procs.some((q) => q !== p && q.role === p.role && q.server)) continue;
      // A processor is killed inside a store transaction when it has one within 2 s: a group's COPY or
      // INSERT begun, not committed (the kill JetStream and the store must absorb).
      let inTransaction = false;
      for (const until = Date.now() + 2000; p.role === 'processor' && !inTransaction && Date.now() < until; ) {
        const open = await admin.query("SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND xact_start IS NOT NULL AND query ~* 'solute_stage|INSERT INTO events|COPY events'", [appName(p)]);
        if (open.rowCount! > 0) inTransaction = true;
        else await sleep(5);
      }
      p.server = null;
      server.proc.kill('SIGKILL');
      await server.exited;
      kills++;
      if (inTransaction) midTransactionKills++;
      log(`kill ${p.role} :${p.port} (${kills})${inTransaction ? ' inside a store transaction' : ''} at ${ledger.acked.size} acknowledged`);
      restarts.push(start(p));
    }
    await Promise.all(restarts);
  };

  const killNats = async () => {
    // One NATS node, a third of the way in, back after 3 s; the R3 stream keeps a quorum of 2.
    await sleep((opts.seconds * 1000) / 3);
    await nats.kill(1, 'SIGKILL');
    natsKills++;
    log(`kill nats node 1 at ${ledger.acked.size} acknowledged`);
    await sleep(3000);
    await nats.restart(1);
    log('nats node 1 back');
  };

  try {
    await Promise.all([killSolute(), killNats(), ...Array.from({ length: opts.clients ?? 4 }, (_, c) => client(c))]);

    // Drain: every message of the stream acknowledged by a processor (after its commit).
    const nc = await connect({ servers: nats.urls });
    const jsm = await jetstreamManager(nc);
    const deadline = Date.now() + 120_000;
    for (;;) {
      const info = await jsm.consumers.info(stream, `${stream}-processor`).catch(() => null);
      if (info && info.num_pending + info.num_ack_pending === 0) break;
      if (Date.now() > deadline) throw new Error(`the cluster did not drain: ${JSON.stringify(info && { pending: info.num_pending, ackPending: info.num_ack_pending })}`);
      await sleep(200);
    }
    await nc.close();

    const rows = await admin.query<{ message_id: string; value: string | null }>(
      `SELECT message_id, body->'properties'->>'value' AS value FROM ${schema}.events WHERE project = 'chaos'`,
    );
    // The read API answers the same as the table.
    const api = await fetch(`${ingestUrls[0]}/api/events?limit=1`, { headers: { authorization: `Bearer ${secretKey}` } });
    if (api.status !== 200) throw new Error(`GET /api/events on the cluster: ${api.status}`);
    return { ...tally(ledger, rows.rows.map((r) => ({ messageId: r.message_id, value: r.value })), kills), natsKills, midTransactionKills };
  } finally {
    for (const p of procs) {
      p.server?.proc.kill('SIGTERM');
      await p.server?.exited;
    }
    await nats.stop();
    await admin.query(`DROP SCHEMA ${schema} CASCADE`).catch(() => undefined);
    await admin.end();
  }
}
