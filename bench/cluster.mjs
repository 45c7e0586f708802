// Cluster beside embedded, in the same run (`node bench/cluster.mjs`, also the last part of `npm run
// bench`; BENCH_CLUSTER=0 skips it there). Both get the same load: autocannon, CLUSTER_CONNECTIONS (16)
// connections, 100-event requests with unique messageIds, CLUSTER_SECONDS (15) per phase, phases
// interleaved (embedded, cluster, embedded, cluster). Per phase: accepted events/s, p50/p99 of the
// answers, and the end-to-end rate (events acknowledged in the phase / time until all are stored).
//
// The cluster: 3 nats-server processes (/usr/sbin/nats-server, free ports, own store dirs) with an R3
// stream, one Solute ingest process and one processor process, PostgreSQL at 127.0.0.1:5432/test in a
// schema of its own (dropped after). On this 2-core machine every process shares the same two cores:
// the figures show the cluster's overhead, not its scaling.
import autocannon from 'autocannon';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { freePort } from './free-port.mjs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';

const ROOT = path.resolve(import.meta.dirname, '..');
const BIN = path.join(ROOT, 'bin', 'solute');
const NATS_SERVER = process.env.SOLUTE_NATS_SERVER ?? '/usr/sbin/nats-server';
const PG_URL = process.env.SOLUTE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const SECONDS = Number(process.env.CLUSTER_SECONDS ?? 15);
const CONNECTIONS = Number(process.env.CLUSTER_CONNECTIONS ?? 16);
const ROUNDS = Number(process.env.CLUSTER_ROUNDS ?? 2);
const RESULTS = path.join(import.meta.dirname, 'results', 'cluster.json');
const RUN = randomBytes(3).toString('hex');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};


let counter = 0;
function body() {
  const n = ++counter;
  const sentAt = new Date().toISOString();
  const batch = [];
  for (let i = 0; i < 100; i++) {
    batch.push({
      type: 'track',
      event: `Event ${i % 12}`,
      messageId: `${RUN}-${n}-${i}`,
      userId: `user_${(n * 100 + i) % 5000}`,
      timestamp: sentAt,
      properties: { product_id: `sku_${i}`, price: 10 + i, currency: 'USD', name: 'Ergonomic Standing Desk', category: 'furniture/desks' },
      context: {
        library: { name: '@solute-ai/sdk', version: '0.1.2' },
        userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
        page: { path: '/products/desk', url: 'https://shop.example.com/products/desk' },
      },
    });
  }
  return JSON.stringify({ batch, sentAt });
}

function spawnSolute(env, port) {
  const proc = spawn(BIN, ['serve', '--port', String(port)], {
    env: { ...process.env, SOLUTE_HOST: '127.0.0.1', SOLUTE_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  proc.stderr.on('data', (d) => (err = (err + d).slice(-4000)));
  return { proc, url: `http://127.0.0.1:${port}`, stderr: () => err };
}

async function ready(server, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (server.proc.exitCode !== null) throw new Error(`solute exited: ${server.stderr()}`);
    try {
      if ((await fetch(`${server.url}/readyz`)).status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`solute not ready: ${server.stderr()}`);
    await sleep(100);
  }
}

async function stop(proc) {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  proc.kill('SIGTERM');
  await Promise.race([new Promise((r) => proc.once('exit', r)), sleep(20_000)]);
  if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
}

async function startNats(dir) {
  const nodes = [];
  for (let i = 0; i < 3; i++) nodes.push({ name: `n${i}`, client: await freePort(), cluster: await freePort(), store: path.join(dir, `n${i}`) });
  const routes = nodes.map((n) => `nats://127.0.0.1:${n.cluster}`).join(',');
  const procs = nodes.map((n) =>
    spawn(NATS_SERVER, ['-js', '-a', '127.0.0.1', '-p', String(n.client), '--server_name', n.name, '--cluster_name', `bench${RUN}`, '--cluster', `nats://127.0.0.1:${n.cluster}`, '--routes', routes, '--store_dir', n.store], {
      stdio: 'ignore',
    }),
  );
  await sleep(3000); // cluster formation and a JetStream meta leader; Solute retries its stream setup meanwhile
  return { urls: nodes.map((n) => `nats://127.0.0.1:${n.client}`), stop: () => Promise.all(procs.map((p) => stop(p))) };
}

async function load(url, key) {
  const latencies = [];
  let accepted = 0;
  let other = 0;
  const started = Date.now();
  const result = await new Promise((resolve, reject) => {
    const inst = autocannon(
      {
        url: `${url}/api/events`,
        method: 'POST',
        connections: CONNECTIONS,
        duration: SECONDS,
        headers: { 'content-type': 'application/json', 'x-api-key': key },
        requests: [{ setupRequest: (req) => ({ ...req, body: body() }) }],
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
    inst.on('response', (_client, status, _bytes, ms) => {
      latencies.push(ms);
      if (status === 200) accepted += 100;
      else other++;
    });
  });
  latencies.sort((a, b) => a - b);
  const at = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
  return { seconds: (Date.now() - started) / 1000, accepted, other, errors: result.errors + result.timeouts, p50: at(0.5), p99: at(0.99), ackRate: accepted / SECONDS };
}

async function metric(url, name) {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
}

async function phase(kind, target) {
  const before = await target.stored();
  const t0 = Date.now();
  const r = await load(target.ingestUrl, target.key);
  // End to end: until every event acknowledged in this phase is stored.
  for (;;) {
    if ((await target.stored()) - before >= r.accepted) break;
    if (Date.now() - t0 > 600_000) throw new Error(`${kind}: not drained`);
    await sleep(100);
  }
  const e2e = r.accepted / ((Date.now() - t0) / 1000);
  console.log(`${kind.padEnd(9)} ack ${Math.round(r.ackRate).toLocaleString('en')} ev/s  p50 ${r.p50} ms  p99 ${r.p99} ms  end-to-end ${Math.round(e2e).toLocaleString('en')} ev/s  (non-200 ${r.other}, errors ${r.errors})`);
  return { ...r, e2e };
}

export async function clusterBench() {
  if (!fs.existsSync(NATS_SERVER)) {
    console.log(`cluster bench skipped: ${NATS_SERVER} not found`);
    return null;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'solute-cluster-bench-'));
  const schema = `solute_bench_${RUN}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  const procs = [];
  let nats;
  try {
    // Embedded.
    const embDir = path.join(dir, 'embedded');
    const embKey = execFileSync(BIN, ['keys', 'create', '--project', 'bench'], { env: { ...process.env, SOLUTE_DATA_DIR: embDir }, encoding: 'utf8' }).trim();
    const emb = spawnSolute({ SOLUTE_DATA_DIR: embDir }, await freePort());
    procs.push(emb.proc);
    await ready(emb);
    const embedded = { ingestUrl: emb.url, key: embKey, stored: () => metric(emb.url, 'solute_events_stored_total') };

    // Cluster: 3 NATS nodes (R3), one ingest and one processor process, PostgreSQL.
    nats = await startNats(path.join(dir, 'nats'));
    const env = { SOLUTE_LOG: nats.urls.join(','), SOLUTE_STORE: PG_URL, SOLUTE_PG_SCHEMA: schema, SOLUTE_NATS_STREAM: `bench_${RUN}`, SOLUTE_NATS_REPLICAS: '3' };
    const key = execFileSync(BIN, ['keys', 'create', '--project', 'bench'], { env: { ...process.env, ...env, SOLUTE_DATA_DIR: dir }, encoding: 'utf8' }).trim();
    const ingest = spawnSolute({ ...env, SOLUTE_ROLE: 'ingest', SOLUTE_DATA_DIR: path.join(dir, 'i') }, await freePort());
    const processor = spawnSolute({ ...env, SOLUTE_ROLE: 'processor', SOLUTE_DATA_DIR: path.join(dir, 'p') }, await freePort());
    procs.push(ingest.proc, processor.proc);
    await Promise.all([ready(ingest), ready(processor)]);
    const countPg = async () => Number((await admin.query(`SELECT count(*)::int AS n FROM ${schema}.events`)).rows[0].n);
    const cluster = { ingestUrl: ingest.url, key, stored: countPg };

    console.log(`\ncluster vs embedded: ${CONNECTIONS} connections, 100-event requests, ${SECONDS} s phases, ${ROUNDS} rounds interleaved; 2 cores shared by every process`);
    const rows = { embedded: [], cluster: [] };
    for (let round = 0; round < ROUNDS; round++) {
      rows.embedded.push(await phase('embedded', embedded));
      rows.cluster.push(await phase('cluster', cluster));
    }
    const summary = {};
    for (const k of ['embedded', 'cluster']) {
      summary[k] = {
        ackRate: median(rows[k].map((r) => r.ackRate)),
        p50: median(rows[k].map((r) => r.p50)),
        p99: median(rows[k].map((r) => r.p99)),
        e2e: median(rows[k].map((r) => r.e2e)),
        nonOk: rows[k].reduce((a, r) => a + r.other + r.errors, 0),
      };
    }
    const ratio = (f) => (summary.cluster[f] / summary.embedded[f]).toFixed(2);
    console.log('\n| median | embedded | cluster (3 NATS R3 + ingest + processor + PostgreSQL) | cluster / embedded |');
    console.log('|---|---|---|---|');
    for (const [f, label, unit] of [['ackRate', 'acknowledged events/s', ''], ['p50', 'p50 answer', ' ms'], ['p99', 'p99 answer', ' ms'], ['e2e', 'end-to-end stored events/s', '']]) {
      console.log(`| ${label} | ${Math.round(summary.embedded[f]).toLocaleString('en')}${unit} | ${Math.round(summary.cluster[f]).toLocaleString('en')}${unit} | ${ratio(f)}x |`);
    }
    console.log(`non-200 answers or errors: embedded ${summary.embedded.nonOk}, cluster ${summary.cluster.nonOk}`);
    fs.mkdirSync(path.dirname(RESULTS), { recursive: true });
    fs.writeFileSync(RESULTS, JSON.stringify({ run: RUN, at: new Date().toISOString(), seconds: SECONDS, connections: CONNECTIONS, rows, summary }, null, 2));
    return summary;
  } finally {
    for (const p of procs) await stop(p);
    await nats?.stop();
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
    await admin.end();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await clusterBench().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
