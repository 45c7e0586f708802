// Cluster mode measured three ways (`node bench/cluster.mjs [r1|drain|r3]`, all three by default; also
// the last part of `npm run bench`, BENCH_CLUSTER=0 skips it there):
//   r1     issue 12's setup: two default-role serve processes on one JetStream server (R1) beside one
//          embedded serve, end to end (r1Bench below);
//   drain  1, 2 and 4 processor processes draining a backlog into PostgreSQL (drainBench below);
//   r3     cluster beside embedded with 3 NATS nodes, described here. Both get the same load: autocannon, CLUSTER_CONNECTIONS (16)
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

function spawnSolute(env, port, nodeArgs = []) {
  const proc = spawn(process.execPath, [...nodeArgs, BIN, 'serve', '--port', String(port)], {
    env: { ...process.env, SOLUTE_HOST: '127.0.0.1', SOLUTE_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  proc.stderr.on('data', (d) => ((err = (err + d).slice(-4000)), process.env.BENCH_STDERR && process.stderr.write(d)));
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

/** CONNECTIONS connections of 100-event requests for `seconds`, split between the given urls. */
async function load(urls, key, seconds = SECONDS) {
  const latencies = [];
  let accepted = 0;
  let other = 0;
  let errors = 0;
  const started = Date.now();
  const list = Array.isArray(urls) ? urls : [urls];
  await Promise.all(
    list.map(
      (url, i) =>
        new Promise((resolve, reject) => {
          const inst = autocannon(
            {
              url: `${url}/api/events`,
              method: 'POST',
              connections: Math.floor(CONNECTIONS / list.length) + (i < CONNECTIONS % list.length ? 1 : 0),
              duration: seconds,
              headers: { 'content-type': 'application/json', 'x-api-key': key },
              requests: [{ setupRequest: (req) => ({ ...req, body: body() }) }],
            },
            (err, res) => (err ? reject(err) : ((errors += res.errors + res.timeouts), resolve(res))),
          );
          inst.on('response', (_client, status, _bytes, ms) => {
            latencies.push(ms);
            if (status === 200) accepted += 100;
            else other++;
          });
        }),
    ),
  );
  latencies.sort((a, b) => a - b);
  const at = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
  return { seconds: (Date.now() - started) / 1000, accepted, other, errors, p50: at(0.5), p99: at(0.99), ackRate: accepted / seconds };
}

/** Events of the project counted by GET /api/stats/events (daily, yesterday to tomorrow, UTC). */
async function statsCount(url, secret) {
  const day = 86_400_000;
  const from = new Date(Math.floor(Date.now() / day) * day - day).toISOString();
  const to = new Date(Math.floor(Date.now() / day) * day + 2 * day).toISOString();
  const res = await fetch(`${url}/api/stats/events?from=${from}&to=${to}&interval=day`, { headers: { authorization: `Bearer ${secret}` } });
  if (res.status !== 200) throw new Error(`stats: ${res.status} ${await res.text()}`);
  return (await res.json()).total.count;
}

async function metric(url, name) {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
}

async function phase(kind, target) {
  const before = await target.stored();
  const t0 = Date.now();
  const r = await load(target.ingestUrls ?? target.ingestUrl, target.key, target.seconds);
  // End to end: until every event acknowledged in this phase is stored.
  for (;;) {
    if ((await target.stored()) - before >= r.accepted) break;
    if (Date.now() - t0 > 600_000) throw new Error(`${kind}: not drained`);
    await sleep(100);
  }
  const e2e = r.accepted / ((Date.now() - t0) / 1000);
  if (target.confirm) {
    // Every acknowledged event counted by the stats route (and at most the requests autocannon dropped
    // the answers of at its end, CONNECTIONS x 100, more).
    const counted = (await target.confirm()) - (target.counted ?? 0);
    target.counted = (target.counted ?? 0) + counted;
    if (counted < r.accepted) throw new Error(`${kind}: GET /api/stats/events counts ${counted} new events, ${r.accepted} were acknowledged`);
  }
  console.log(`${kind.padEnd(9)} ack ${Math.round(r.ackRate).toLocaleString('en')} ev/s  p50 ${r.p50} ms  p99 ${r.p99} ms  end-to-end ${Math.round(e2e).toLocaleString('en')} ev/s  (non-200 ${r.other}, errors ${r.errors})`);
  return { ...r, e2e };
}

/** One nats-server (R1 streams) on free ports, in its own directory. */
async function startNatsR1(dir) {
  const port = await freePort();
  const proc = spawn(NATS_SERVER, ['-js', '-a', '127.0.0.1', '-p', String(port), '--store_dir', dir], { stdio: 'ignore' });
  await sleep(1000);
  return { url: `nats://127.0.0.1:${port}`, stop: () => stop(proc) };
}

/** A fresh PostgreSQL schema, dropped by the returned function. */
async function freshSchema(admin, name) {
  await admin.query(`CREATE SCHEMA ${name}`);
  return () => admin.query(`DROP SCHEMA IF EXISTS ${name} CASCADE`).catch(() => undefined);
}

function keysFor(env, dir) {
  const run = (secret) =>
    execFileSync(BIN, ['keys', 'create', '--project', 'bench', ...(secret ? ['--secret'] : [])], { env: { ...process.env, ...env, SOLUTE_DATA_DIR: dir }, encoding: 'utf8' }).trim();
  return { key: run(false), secret: run(true) };
}

/**
 * Issue 12's setup: two `serve` processes with the default role (ingest and processor) on one
 * JetStream server (R1) and a fresh PostgreSQL schema, against one embedded `serve`; CONNECTIONS
 * connections in all (split between the two cluster processes) for R1_SECONDS (20); end to end =
 * events acknowledged / seconds from the start of the load until GET /api/stats/events counts them all.
 * Phases interleaved, R1_ROUNDS (2) of each; medians.
 */
export async function r1Bench() {
  if (!fs.existsSync(NATS_SERVER)) return (console.log(`cluster bench skipped: ${NATS_SERVER} not found`), null);
  const seconds = Number(process.env.R1_SECONDS ?? 20);
  const rounds = Number(process.env.R1_ROUNDS ?? 2);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'solute-r1-bench-'));
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  const schema = `solute_bench_r1_${RUN}`;
  const drop = await freshSchema(admin, schema);
  const procs = [];
  let nats;
  try {
    const embDir = path.join(dir, 'embedded');
    const ek = keysFor({}, embDir);
    const emb = spawnSolute({ SOLUTE_DATA_DIR: embDir }, await freePort());
    procs.push(emb.proc);
    await ready(emb);
    nats = await startNatsR1(path.join(dir, 'nats'));
    const env = { SOLUTE_LOG: nats.url, SOLUTE_STORE: PG_URL, SOLUTE_PG_SCHEMA: schema, SOLUTE_NATS_STREAM: `r1_${RUN}`, SOLUTE_NATS_REPLICAS: '1' };
    const ck = keysFor(env, dir);
    const a = spawnSolute({ ...env, SOLUTE_DATA_DIR: path.join(dir, 'a') }, await freePort(), process.env.R1_NODE_ARGS?.split(' ').filter(Boolean) ?? []);
    const b = spawnSolute({ ...env, SOLUTE_DATA_DIR: path.join(dir, 'b') }, await freePort());
    procs.push(a.proc, b.proc);
    await Promise.all([ready(a), ready(b)]);
    const embedded = { ingestUrl: emb.url, key: ek.key, seconds, stored: () => statsCount(emb.url, ek.secret) };
    // Polled: the processes' own counters (a stats query every 100 ms would load PostgreSQL and slow what
    // it measures); the end of each phase is then confirmed by GET /api/stats/events (phase's `confirm`).
    const stored = async (urls) => (await Promise.all(urls.map((u) => metric(u, 'solute_events_stored_total')))).reduce((x, y) => x + y, 0);
    embedded.stored = () => stored([emb.url]);
    embedded.confirm = () => statsCount(emb.url, ek.secret);
    const cluster = { ingestUrls: [a.url, b.url], key: ck.key, seconds, stored: () => stored([a.url, b.url]), confirm: () => statsCount(a.url, ck.secret) };
    console.log(`\ncluster (2 x serve, 1 JetStream server R1, PostgreSQL) vs embedded: ${CONNECTIONS} connections in all, ${seconds} s phases, ${rounds} rounds interleaved`);
    const rows = { embedded: [], cluster: [] };
    for (let round = 0; round < rounds; round++) {
      rows.embedded.push(await phase('embedded', embedded));
      rows.cluster.push(await phase('cluster', cluster));
    }
    const e2e = { embedded: median(rows.embedded.map((r) => r.e2e)), cluster: median(rows.cluster.map((r) => r.e2e)) };
    const target = Math.min(0.6 * e2e.embedded, 25_000);
    console.log(`end to end (median): embedded ${Math.round(e2e.embedded).toLocaleString('en')} ev/s, cluster ${Math.round(e2e.cluster).toLocaleString('en')} ev/s = ${(e2e.cluster / e2e.embedded).toFixed(2)}x (target >= min(0.6x, 25k) = ${Math.round(target).toLocaleString('en')} ev/s: ${e2e.cluster >= target ? 'met' : 'NOT met'})`);
    return { rows, e2e, target };
  } finally {
    for (const p of procs) await stop(p);
    await nats?.stop();
    await drop();
    await admin.end();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Processors alone: ingest-only processes fill a backlog of DRAIN_EVENTS (500k) events while no
 * processor runs; then 1, 2 or 4 processor processes start and drain it into PostgreSQL. The rate is
 * events / seconds from the processors' start until GET /api/stats/events counts them all.
 */
export async function drainBench(counts = (process.env.DRAIN_PROCESSORS ?? '1,2,4').split(',').map(Number)) {
  if (!fs.existsSync(NATS_SERVER)) return null;
  const events = Number(process.env.DRAIN_EVENTS ?? 500_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'solute-drain-bench-'));
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  const procs = [];
  const drops = [];
  let nats;
  const results = [];
  try {
    nats = await startNatsR1(path.join(dir, 'nats'));
    for (const n of counts) {
      const schema = `solute_bench_drain_${RUN}_${n}`;
      const drop = await freshSchema(admin, schema);
      drops.push(drop);
      const env = { SOLUTE_LOG: nats.url, SOLUTE_STORE: PG_URL, SOLUTE_PG_SCHEMA: schema, SOLUTE_NATS_STREAM: `drain_${RUN}_${n}`, SOLUTE_NATS_REPLICAS: '1', SOLUTE_BACKLOG_MAX_EVENTS: String(10 * events) };
      const k = keysFor(env, dir);
      const ingest = spawnSolute({ ...env, SOLUTE_ROLE: 'ingest', SOLUTE_DATA_DIR: path.join(dir, `i${n}`) }, await freePort());
      procs.push(ingest.proc);
      await ready(ingest);
      // Every request answered, so the count is exact (autocannon drops the answers in flight at its end).
      let sent = 0;
      await Promise.all(
        Array.from({ length: CONNECTIONS }, async () => {
          while (sent < events) {
            const res = await fetch(`${ingest.url}/api/events`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': k.key }, body: body() });
            if (res.status !== 200) throw new Error(`drain: fill answered ${res.status} ${await res.text()}`);
            await res.arrayBuffer();
            sent += 100;
          }
        }),
      );
      const started = Date.now();
      let readyAt = 0;
      const ps = [];
      for (let i = 0; i < n; i++) ps.push(spawnSolute({ ...env, SOLUTE_ROLE: 'processor', SOLUTE_DATA_DIR: path.join(dir, `p${n}_${i}`) }, await freePort(), process.env.DRAIN_NODE_ARGS?.split(' ').filter(Boolean) ?? []));
      procs.push(...ps.map((p) => p.proc));
      await Promise.all(ps.map((p) => ready(p)));
      readyAt = Date.now();
      // The processors' own counter is polled (a stats query every 100 ms would load PostgreSQL); the
      // stats route then confirms that it counts them all.
      const storedByProcessors = async () => (await Promise.all(ps.map((p) => metric(p.url, 'solute_events_stored_total')))).reduce((a, x) => a + x, 0);
      while ((await storedByProcessors()) < sent) {
        if (Date.now() - started > 600_000) throw new Error('drain: not done in 10 min');
        await sleep(50);
      }
      const seconds = (Date.now() - started) / 1000;
      const fromReady = (Date.now() - readyAt) / 1000;
      const counted = await statsCount(ingest.url, k.secret);
      if (counted !== sent) throw new Error(`drain: GET /api/stats/events counts ${counted} events, ${sent} were acknowledged`);
      results.push({ processors: n, events: sent, seconds, rate: sent / seconds, fromReadySeconds: fromReady, rateFromReady: sent / fromReady });
      console.log(
        `drain: ${n} processor(s), ${sent.toLocaleString('en')} events in ${seconds.toFixed(1)} s = ${Math.round(sent / seconds).toLocaleString('en')} ev/s from their start (start-up included); ${Math.round(sent / fromReady).toLocaleString('en')} ev/s from ready`,
      );
      for (const p of [ingest, ...ps]) await stop(p.proc);
      await drop();
    }
    return results;
  } finally {
    for (const p of procs) await stop(p);
    await nats?.stop();
    for (const drop of drops) await drop(); // also when a run failed half way
    await admin.end();
    fs.rmSync(dir, { recursive: true, force: true });
  }
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
  const mode = process.argv[2] ?? 'all';
  const run = async () => {
    if (mode === 'r1' || mode === 'all') await r1Bench();
    if (mode === 'drain' || mode === 'all') await drainBench();
    if (mode === 'r3' || mode === 'all') await clusterBench();
  };
  await run().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
