// Query benchmark (issue 5): `node bench/queries.mjs` alone, or as the last part of `npm run bench`.
// Needs dist/ (npm run build; npm run bench builds it).
//
// For each size (BENCH_QUERY_SIZES, default 1000000,10000000 events; BENCH_QUERY_USERS 100000 users,
// over 30 days): `bin/solute seed` into a fresh data dir (timed), `bin/solute serve` on it, then
// BENCH_QUERY_RUNS (50) sequential timed requests, after 5 warm-up ones, of:
//   - a profile lookup: GET /api/profiles/{userId} when the route exists, else reported as missing;
//   - events of one user: GET /api/events?userId=...&limit=50 (a different user each run);
//   - a daily count over 30 days: GET /api/stats/events?interval=day, UTC and America/New_York;
//   - top events over 7 days: GET /api/stats/top-events;
//   - issue 11's: hourly counts over 7 days, top pages over 7 days, a 4-step funnel and weekly
//     retention over 30 days, daily counts broken down by a property.
// Then, the server stopped: the identities + profiles lookup as SQL in this process (no HTTP), and
// the ingest cost of the uhash/ahash columns: a 1M-line segment in the log's NDJSON format loaded
// with the processor's bulk statement into a fresh table, with and without the two hash columns,
// alternating, 3 times each.
// BENCH_QUERY_STORE=postgres runs the same requests against a cluster process (a private nats-server,
// a fresh schema in SOLUTE_TEST_PG_URL's database, both removed after), seeded by `bin/solute seed`
// into PostgreSQL; the in-process SQL and ingest figures are DuckDB's only.
// Figures go to stdout and to bench/results/queries.json (queries-postgres.json).
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import { freePort } from './free-port.mjs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { DuckDBInstance } from '@duckdb/node-api';

const ROOT = path.resolve(import.meta.dirname, '..');
const BIN = path.join(ROOT, 'bin', 'solute');
const RESULTS = path.join(import.meta.dirname, 'results', process.env.BENCH_QUERY_STORE === 'postgres' ? 'queries-postgres.json' : 'queries.json');
const SIZES = (process.env.BENCH_QUERY_SIZES ?? '1000000,10000000').split(',').map(Number);
const USERS = Number(process.env.BENCH_QUERY_USERS ?? 100_000);
const RUNS = Number(process.env.BENCH_QUERY_RUNS ?? 50);
const WARMUP = 5;
const DAY = 86_400_000;
const KEEP = process.env.BENCH_KEEP === '1';
/** `duckdb` (the embedded store, default) or `postgres`: the same queries on a cluster process over PostgreSQL (issue 11). */
const STORE = process.env.BENCH_QUERY_STORE ?? 'duckdb';
const PG_URL = process.env.SOLUTE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const NATS_SERVER = process.env.SOLUTE_NATS_SERVER ?? '/usr/sbin/nats-server';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.log(...a);

function pct(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}


function run(args, env) {
  return execFileSync(BIN, args, { env: { ...process.env, ...env }, encoding: 'utf8' }).trim();
}

async function serve(dataDir, extraEnv = {}) {
  const port = await freePort();
  const proc = spawn(BIN, ['serve', '--port', String(port)], {
    env: { ...process.env, SOLUTE_DATA_DIR: dataDir, SOLUTE_HOST: '127.0.0.1', SOLUTE_LOG_LEVEL: 'warn', ...extraEnv },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (proc.exitCode !== null) throw new Error(`solute exited (${proc.exitCode})`);
    try {
      if ((await fetch(`${url}/readyz`)).ok) break;
    } catch {
      // not yet
    }
    if (i > 1200) throw new Error('solute did not become ready');
    await sleep(50);
  }
  return {
    url,
    stop: async () => {
      proc.kill('SIGTERM');
      await new Promise((r) => (proc.exitCode !== null ? r() : proc.once('exit', r)));
    },
  };
}

/** Times `RUNS` sequential requests (after warm-up); `path(i)` gives the i-th request's path. */
async function time(url, key, pathOf) {
  const ms = [];
  let status = 0;
  for (let i = -WARMUP; i < RUNS; i++) {
    const p = pathOf(i + WARMUP);
    const t = performance.now();
    const r = await fetch(url + p, { headers: { authorization: `Bearer ${key}` } });
    await r.arrayBuffer();
    const dt = performance.now() - t;
    status = r.status;
    if (r.status !== 200) return { status, p50: NaN, p99: NaN };
    if (i >= 0) ms.push(dt);
  }
  return { status, p50: pct(ms, 50), p99: pct(ms, 99), max: Math.max(...ms) };
}

async function sqlTimes(conn, sql, paramsOf) {
  const ms = [];
  for (let i = -WARMUP; i < RUNS; i++) {
    const t = performance.now();
    await conn.runAndReadAll(sql, paramsOf(i + WARMUP));
    if (i >= 0) ms.push(performance.now() - t);
  }
  return { p50: pct(ms, 50), p99: pct(ms, 99) };
}

/**
 * For BENCH_QUERY_STORE=postgres: a fresh schema and a private JetStream server (a cluster process
 * needs a log), both gone after; `env` points Solute at them.
 */
async function postgresSetup(dataDir) {
  const { default: pg } = await import('pg');
  const schema = `solute_qbench_${Math.random().toString(36).slice(2, 8)}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  const natsPort = await freePort();
  const nats = spawn(NATS_SERVER, ['-js', '-a', '127.0.0.1', '-p', String(natsPort), '--store_dir', path.join(dataDir, 'nats')], { stdio: 'ignore' });
  await sleep(1000);
  const env = { SOLUTE_STORE: PG_URL, SOLUTE_PG_SCHEMA: schema, SOLUTE_LOG: `nats://127.0.0.1:${natsPort}` };
  const storeBytes = async () => Number((await admin.query(`SELECT sum(pg_total_relation_size(c.oid))::float8 AS b FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = $1`, [schema])).rows[0].b);
  const close = async () => {
    nats.kill('SIGTERM');
    await new Promise((r) => (nats.exitCode !== null ? r() : nats.once('exit', r)));
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
    await admin.end();
  };
  return { env, storeBytes, close };
}

async function oneSize(n) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'solute-qbench-'));
  const pgSetup = STORE === 'postgres' ? await postgresSetup(dataDir) : null;
  try {
    return await measureSize(n, dataDir, pgSetup);
  } finally {
    await pgSetup?.close();
    if (!KEEP) fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

async function measureSize(n, dataDir, pgSetup) {
  const env = { SOLUTE_DATA_DIR: dataDir, ...pgSetup?.env };
  const key = run(['keys', 'create', '--project', 'bench', '--secret'], env);
  const t0 = performance.now();
  const seeded = run(['seed', '--events', String(n), '--users', String(USERS), '--project', 'bench', '--days', '30'], env);
  const seedSeconds = (performance.now() - t0) / 1000;
  log(`  ${seeded} (wall ${seedSeconds.toFixed(1)} s with process start)`);
  const storeBytes = pgSetup ? await pgSetup.storeBytes() : fs.statSync(path.join(dataDir, 'store', 'events.duckdb')).size;

  const server = await serve(dataDir, pgSetup?.env);
  const now = Date.now();
  const iso = (ms) => new Date(ms).toISOString();
  // Users that exist: identified ones from the newest events.
  const sample = await (await fetch(`${server.url}/api/events?type=track&limit=1000`, { headers: { authorization: `Bearer ${key}` } })).json();
  const users = [...new Set(sample.events.map((e) => e.userId).filter(Boolean))];
  if (users.length < 10) throw new Error(`too few users found: ${users.length}`);
  const user = (i) => encodeURIComponent(users[i % users.length]);
  const R = {};
  R.profile = await time(server.url, key, (i) => `/api/profiles/${user(i)}`);
  R.eventsByUser = await time(server.url, key, (i) => `/api/events?userId=${user(i)}&limit=50`);
  // The windows move by a second per run, so no answer comes from a cache of a previous one.
  R.daily30 = await time(server.url, key, (i) => `/api/stats/events?interval=day&from=${iso(now - 30 * DAY - i * 1000)}&to=${iso(now - i * 1000)}`);
  R.daily30NewYork = await time(server.url, key, (i) => `/api/stats/events?interval=day&tz=America/New_York&from=${iso(now - 30 * DAY - i * 1000)}&to=${iso(now - i * 1000)}`);
  R.top7 = await time(server.url, key, (i) => `/api/stats/top-events?from=${iso(now - 7 * DAY - i * 1000)}&to=${iso(now - i * 1000)}`);
  // Issue 11's new questions (scans, no summaries yet).
  R.hourly7 = await time(server.url, key, (i) => `/api/stats/events?interval=hour&from=${iso(now - 7 * DAY - i * 1000)}&to=${iso(now - i * 1000)}`);
  R.topPages7 = await time(server.url, key, (i) => `/api/stats/top-pages?from=${iso(now - 7 * DAY - i * 1000)}&to=${iso(now - i * 1000)}`);
  const steps = encodeURIComponent(JSON.stringify([{ event: 'Product Viewed' }, { event: 'Product Added' }, { event: 'Checkout Started' }, { event: 'Order Completed' }]));
  R.funnel30 = await time(server.url, key, (i) => `/api/stats/funnel?steps=${steps}&windowSeconds=86400&from=${iso(now - 30 * DAY - i * 1000)}&to=${iso(now - i * 1000)}`);
  R.retention30 = await time(server.url, key, (i) => `/api/stats/retention?startEvent=Signup%20Started&returnEvent=Login&period=week&periods=4&from=${iso(now - 30 * DAY - i * 1000)}&to=${iso(now - i * 1000)}`);
  R.breakdown30 = await time(server.url, key, (i) => `/api/stats/events?interval=day&event=Product%20Viewed&breakdown=currency&from=${iso(now - 30 * DAY - i * 1000)}&to=${iso(now - i * 1000)}`);
  await server.stop();
  if (pgSetup) return { events: n, users: USERS, store: STORE, seedSeconds, storeBytes, results: R, ingest: null };

  // The identity lookup in SQL, and the hash columns' ingest cost, on the same store, server stopped.
  const db = await DuckDBInstance.create(path.join(dataDir, 'store', 'events.duckdb'), { memory_limit: '256MB', threads: '2' });
  const conn = await db.connect();
  R.identityLookupSql = await sqlTimes(
    conn,
    "SELECT p.* FROM identities i JOIN profiles p ON p.project = i.project AND p.profile = i.profile WHERE i.project = 'bench' AND i.id = $id",
    (i) => ({ id: users[i % users.length] }),
  );
  let ingest = null;
  if (n >= 1_000_000) ingest = await ingestCost(conn, dataDir);
  conn.closeSync();
  db.closeSync();
  return { events: n, users: USERS, store: STORE, seedSeconds, storeBytes, results: R, ingest };
}

/** Rows/s of the processor's bulk load of a 1M-line segment, with and without uhash/ahash. */
async function ingestCost(conn, dataDir) {
  const seg = path.join(dataDir, 'segment.ndjson');
  await conn.run(`COPY (SELECT project AS p, seq AS s, ts AS t, type AS y, event AS n, user_id AS u, anonymous_id AS a, message_id AS m, body AS e
    FROM events LIMIT 1000000) TO '${seg}' (FORMAT JSON)`);
  const cols = `{p:'VARCHAR', s:'BIGINT', t:'BIGINT', y:'VARCHAR', n:'VARCHAR', u:'VARCHAR', a:'VARCHAR', m:'VARCHAR', e:'JSON'}`;
  const src = `read_ndjson('${seg}', columns=${cols}, format='newline_delimited')`;
  const base = 'project VARCHAR NOT NULL, seq BIGINT NOT NULL, ts BIGINT NOT NULL, type VARCHAR NOT NULL, event VARCHAR, user_id VARCHAR, anonymous_id VARCHAR, message_id VARCHAR NOT NULL, body JSON NOT NULL';
  const variants = {
    without: { ddl: base, sel: 'p, s, t, y, n, u, a, m, e' },
    with: { ddl: `${base}, uhash UBIGINT, ahash UBIGINT`, sel: 'p, s, t, y, n, u, a, m, e, CASE WHEN u IS NOT NULL THEN hash(u) END, hash(a)' },
  };
  const out = { without: [], with: [] };
  for (let round = 0; round < 3; round++) {
    for (const name of ['without', 'with']) {
      const v = variants[name];
      const file = path.join(dataDir, `load-${name}.duckdb`);
      fs.rmSync(file, { force: true });
      fs.rmSync(`${file}.wal`, { force: true });
      const db = await DuckDBInstance.create(file, { memory_limit: '256MB', threads: '2', checkpoint_threshold: '256MB' });
      const c = await db.connect();
      await c.run(`CREATE TABLE events (${v.ddl})`);
      const t = performance.now();
      await c.run('BEGIN TRANSACTION');
      const r = await c.run(`INSERT INTO events SELECT ${v.sel} FROM ${src}`);
      await c.run('COMMIT');
      const s = (performance.now() - t) / 1000;
      out[name].push(Number(r.rowsChanged) / s);
      c.closeSync();
      db.closeSync();
      fs.rmSync(file, { force: true });
      fs.rmSync(`${file}.wal`, { force: true });
    }
  }
  fs.rmSync(seg, { force: true });
  const med = (xs) => pct(xs, 50);
  return { rowsPerSecWithout: med(out.without), rowsPerSecWith: med(out.with), runs: out };
}

export async function queryBench() {
  log(`=== query benchmark (${STORE}): ${SIZES.join(', ')} events, ${USERS} users over 30 days; ${RUNS} timed requests each (after ${WARMUP} warm-up); load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} ===`);
  const sizes = [];
  for (const n of SIZES) {
    log(`seeding ${n} events...`);
    sizes.push(await oneSize(n));
  }
  const f = (x) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');
  const cell = (r) => (r.status && r.status !== 200 ? `n/a (HTTP ${r.status})` : `${f(r.p50)} / ${f(r.p99)}`);
  const rows = [
    ['profile lookup GET /api/profiles/{id}', (s) => cell(s.results.profile)],
    ['  identities+profiles lookup, SQL in-process', (s) => (s.results.identityLookupSql ? cell(s.results.identityLookupSql) : 'n/a')],
    ['events by user GET /api/events?userId=&limit=50', (s) => cell(s.results.eventsByUser)],
    ['daily count, 30 days, UTC', (s) => cell(s.results.daily30)],
    ['daily count, 30 days, America/New_York', (s) => cell(s.results.daily30NewYork)],
    ['top events, 7 days', (s) => cell(s.results.top7)],
    ['hourly count, 7 days, UTC', (s) => cell(s.results.hourly7)],
    ['top pages, 7 days', (s) => cell(s.results.topPages7)],
    ['funnel, 4 steps, 1-day window, 30 days', (s) => cell(s.results.funnel30)],
    ['retention, weekly, 4 periods, 30 days of cohorts', (s) => cell(s.results.retention30)],
    ['daily count broken down by a property, 30 days', (s) => cell(s.results.breakdown30)],
    ['seed time (s)', (s) => s.seedSeconds.toFixed(1)],
    [STORE === 'postgres' ? 'store schema, tables and indexes (MiB)' : 'store file (MiB)', (s) => (s.storeBytes / 2 ** 20).toFixed(0)],
  ];
  const head = ['p50 / p99 ms', ...sizes.map((s) => `${(s.events / 1e6).toFixed(0)}M events`)];
  const table = [head, ...rows.map(([name, fn]) => [name, ...sizes.map(fn)])];
  const w = head.map((_, i) => Math.max(...table.map((r) => String(r[i]).length)));
  log();
  for (const r of table) log(r.map((c, i) => String(c).padEnd(w[i])).join('  '));
  for (const s of sizes) {
    if (!s.ingest) continue;
    const { rowsPerSecWithout: a, rowsPerSecWith: b } = s.ingest;
    log(`bulk load of a 1M-line segment (the processor's statement), medians of 3: without uhash/ahash ${a.toFixed(0)} rows/s, with ${b.toFixed(0)} rows/s (${((b / a - 1) * 100).toFixed(1)}%) [${(s.events / 1e6).toFixed(0)}M store]`);
  }
  fs.mkdirSync(path.dirname(RESULTS), { recursive: true });
  fs.writeFileSync(RESULTS, JSON.stringify({ at: new Date().toISOString(), loadavg: os.loadavg(), sizes }, null, 2));
  return sizes;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await queryBench().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
