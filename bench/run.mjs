// Solute benchmark: `npm run bench` (= npm run build && node --expose-gc bench/run.mjs).
//
// Measures, on loopback, with autocannon as the load generator, each figure side by side with a
// baseline in the same run (the machine is small and noisy, so absolute numbers mean little alone):
//   1. ack path at full load (16 connections, 100-event batches): accepted events/s, p50/p99,
//      against a bare Fastify server that only parses the same body (bench/baseline-server.mjs);
//   2. p50/p99 at half load (autocannon overallRate = half of Solute's full-load requests/s), both
//      servers at the same rate; plus the same rate paced evenly (see paceClient below);
//   3. processor throughput with no HTTP load: Solute is SIGKILLed with a backlog in its log, restarted
//      on the same data dir, and timed until the backlog is stored;
//   4. end to end: start of a full-load phase until everything it acknowledged is stored;
//   5. peak RSS (VmHWM) of every server process.
//   6. overload (bench/overload.mjs): as much load as the generator can offer for 30 s against a small
//      backlog bound and a rate-limited project; statuses, p99, RSS over time, acknowledged vs stored.
// Phases are interleaved (baseline, solute, baseline, solute, ...) and reported as medians and ratios.
// Figures go to stdout as a table and to bench/results/latest.json (stdout also to latest.txt).
// BENCHMARKS.md explains them.
//
// `node bench/run.mjs overload` runs only the overload scenario (figures to bench/results/overload.json
// and overload.txt); `node bench/run.mjs event-path` only issue 10's figures (bench/results/event-path.json). Exit code 1 when the overload scenario finds a failure.
//
// Environment: BENCH_SECONDS (per phase, default 15), BENCH_ROUNDS (default 2),
// BENCH_PACED=0 to skip the paced half-load phases, BENCH_KEEP=1 to keep the temporary data dir;
// OVERLOAD_SECONDS (30), OVERLOAD_CONNECTIONS (32), OVERLOAD_BACKLOG_MAX_EVENTS (10000),
// OVERLOAD_LIMITED_EVENTS_PER_SECOND (500) for the overload scenario.
//   6. queries (bench/queries.mjs, runnable alone): profile lookup, events by user, daily counts over
//      30 days, top events over 7 days, at 1M and 10M seeded events; and the ingest cost of uhash/ahash.
//   8. the event path (issue 10, eventPathPhases): CPU per event at 20k events/s, the sustained rate
//      (acknowledged minus backlog growth), the ack path with processing deferred, p99 at half the
//      sustained rate, the processor alone on 1M events (bench/processor.mjs), peak RSS; BENCH_EVENT_PATH=0 skips it.
//   7. cluster mode (bench/cluster.mjs, runnable alone): issue 12's R1 setup (two default-role
//      processes) beside embedded, end to end; 1, 2 and 4 processors draining a backlog; then 3 NATS
//      nodes (R3) + ingest + processor + PostgreSQL against the embedded default; BENCH_CLUSTER=0 skips it.
// Environment: BENCH_QUERIES=0 to skip part 6 (its own settings are in bench/queries.mjs),
// BENCH_SECONDS (per phase, default 15), BENCH_ROUNDS (default 2),
// BENCH_PACED=0 to skip the paced half-load phases, BENCH_KEEP=1 to keep the temporary data dir.
import autocannon from 'autocannon';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { freePort } from './free-port.mjs';
import { cpuOf, memoryOf } from './proc-stats.mjs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { runOverload } from './overload.mjs';
import { queryBench } from './queries.mjs';
import { clusterBench, drainBench, r1Bench } from './cluster.mjs';

const ROOT = path.resolve(import.meta.dirname, '..');
const BIN = path.join(ROOT, 'bin', 'solute');
const BASELINE = path.join(import.meta.dirname, 'baseline-server.mjs');
const RESULTS = path.join(import.meta.dirname, 'results', 'latest.json');

const SECONDS = envInt('BENCH_SECONDS', 15);
const ROUNDS = envInt('BENCH_ROUNDS', 2);
const PACED = process.env.BENCH_PACED !== '0';
const KEEP = process.env.BENCH_KEEP === '1';
const CONNECTIONS = 16;
const BATCH = 100;
const WARMUP_SECONDS = Math.min(3, SECONDS);
/** The processor phase wants at least this many events left in the log when Solute is killed. */
const MIN_BACKLOG = 200_000;
const RUN = randomBytes(4).toString('hex');
/** Issue 10's figures (eventPathPhases): BENCH_EVENT_PATH=0 skips them; their phase lengths. */
const EVENT_PATH = process.env.BENCH_EVENT_PATH !== '0';
const SUSTAINED_SECONDS = envInt('BENCH_SUSTAINED_SECONDS', 60);
const PACED_CPU_SECONDS = envInt('BENCH_CPU_SECONDS', 20);
const PROCESSOR_EVENTS = envInt('BENCH_PROCESSOR_EVENTS', 1_000_000);
const MODES = ['all', 'overload', 'event-path'];
const MODE = process.argv[2] ?? 'all';
if (!MODES.includes(MODE)) {
  console.error(`usage: node bench/run.mjs [${MODES.join('|')}]`);
  process.exit(2);
}

const gc = globalThis.gc ?? (() => {});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now();

function envInt(name, dflt) {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(v)}`);
  return n;
}

// ---------------------------------------------------------------------------------------------
// The request body: 100 realistic track events, built once as text. Every messageId holds a
// fixed-width placeholder; per request the counter is written over it in place (100 small writes,
// no re-serialisation), so messageIds are `<run>-<request counter>-<i>` and unique across the run.

const PLACEHOLDER = '##########'; // 10 digits: room for 10^10 requests
const EVENT_NAMES = ['Product Viewed', 'Product Added', 'Checkout Started', 'Button Clicked', 'Search Performed', 'Signup Completed', 'Page Scrolled', 'Video Played'];
const PAGES = ['/products/sku_10482', '/cart', '/checkout/shipping', '/search?q=standing+desk', '/blog/remote-work-setup', '/pricing'];
const AGENTS = [
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36 Edg/125.0.0.0',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
];
const LOCALES = ['en-US', 'de-DE', 'fr-FR', 'en-GB', 'es-ES'];

function buildTemplate() {
  const base = Date.now();
  const batch = [];
  for (let i = 0; i < BATCH; i++) {
    const page = PAGES[i % PAGES.length];
    const user = 10_000 + ((i * 7919) % 5000);
    batch.push({
      type: 'track',
      event: EVENT_NAMES[i % EVENT_NAMES.length],
      messageId: `${RUN}-${PLACEHOLDER}-${String(i).padStart(2, '0')}`,
      userId: `user_${user}`,
      anonymousId: `anon_${randomBytes(8).toString('hex')}`,
      timestamp: new Date(base - (BATCH - i) * 37).toISOString(),
      properties: {
        product_id: `sku_${10_000 + i * 13}`,
        name: 'Ergonomic Standing Desk',
        category: 'furniture/desks',
        price: 349.99 + i,
        currency: 'USD',
        quantity: 1 + (i % 3),
        coupon: i % 4 === 0 ? 'SPRING24' : null,
      },
      context: {
        page: { path: page.split('?')[0], url: `https://shop.example.com${page}`, title: 'Standing Desks | Example Shop', referrer: 'https://www.google.com/' },
        library: { name: '@solute-ai/sdk', version: '0.1.2' },
        userAgent: AGENTS[i % AGENTS.length],
        locale: LOCALES[i % LOCALES.length],
        sessionId: `sess_${randomBytes(6).toString('hex')}`,
      },
    });
  }
  const text = JSON.stringify({ batch, sentAt: new Date(base).toISOString() });
  const buf = Buffer.from(text, 'latin1');
  if (buf.length !== Buffer.byteLength(text, 'utf8')) throw new Error('template must be ASCII');
  const offsets = [];
  for (let at = buf.indexOf(PLACEHOLDER); at !== -1; at = buf.indexOf(PLACEHOLDER, at + PLACEHOLDER.length)) offsets.push(at);
  if (offsets.length !== BATCH) throw new Error(`expected ${BATCH} placeholders, found ${offsets.length}`);
  return { buf, offsets, eventBytes: JSON.stringify(batch[0]).length };
}

const TEMPLATE = buildTemplate();
let requestCounter = 0;

/** The next request's body: the shared template with this request's counter written in. */
function nextBody() {
  const n = ++requestCounter;
  const digits = String(n).padStart(PLACEHOLDER.length, '0');
  for (const off of TEMPLATE.offsets) TEMPLATE.buf.write(digits, off, 'latin1');
  return TEMPLATE.buf; // autocannon copies it into the request buffer right away
}

/** nextBody() with the counter written into its messageIds. */
function nextNumberedBody() {
  const buf = nextBody();
  return { buf, n: requestCounter };
}

// ---------------------------------------------------------------------------------------------
// Processes.


/** Keeps the last bytes a child wrote and counts its warn/error log lines (pino JSON). */
function captureOutput(proc) {
  let tail = '';
  const levels = { warn: 0, error: 0, fatal: 0 };
  const samples = [];
  const onData = (d) => {
    const s = d.toString();
    tail = (tail + s).slice(-64 * 1024);
    for (const line of s.split('\n')) {
      const m = /"level":(\d+)/.exec(line);
      if (!m) continue;
      const lvl = Number(m[1]);
      if (lvl >= 60) levels.fatal++;
      else if (lvl >= 50) levels.error++;
      else if (lvl >= 40) levels.warn++;
      if (lvl >= 40 && samples.length < 5) samples.push(line.slice(0, 500));
    }
  };
  proc.stdout?.on('data', onData);
  proc.stderr?.on('data', onData);
  return { tail: () => tail, levels, samples };
}

async function waitFor(check, what, proc, timeoutMs = 120_000, everyMs = 20) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`${what}: process exited (${proc.exitCode ?? proc.signalCode})`);
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what}: timed out`);
    await sleep(everyMs);
  }
}

async function startBaseline() {
  const port = await freePort();
  const proc = spawn(process.execPath, [BASELINE, String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = captureOutput(proc);
  await waitFor(async () => /^ready /m.test(out.tail()), 'baseline start', proc);
  const server = { name: 'baseline', url: `http://127.0.0.1:${port}`, proc, pid: proc.pid, out, apiKey: 'unused' };
  LIVE.push(server);
  return server;
}

function soluteKey(dataDir) {
  return execFileSync(BIN, ['keys', 'create', '--project', 'bench'], {
    env: { ...process.env, SOLUTE_DATA_DIR: dataDir, SOLUTE_LOG_LEVEL: 'warn' },
    encoding: 'utf8',
  }).trim();
}

async function startSolute(dataDir, apiKey, extraEnv = {}) {
  const port = await freePort();
  const spawnedAt = now();
  const proc = spawn(BIN, ['serve', '--port', String(port)], {
    env: { ...process.env, SOLUTE_DATA_DIR: dataDir, SOLUTE_HOST: '127.0.0.1', SOLUTE_LOG_LEVEL: 'warn', ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = captureOutput(proc);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${url}/readyz`)).status === 200, 'solute start', proc);
  const readyAt = now();
  const server = { name: 'solute', url, proc, pid: proc.pid, out, apiKey, spawnedAt, readyAt, env: extraEnv };
  LIVE.push(server);
  return server;
}

function exited(proc) {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((r) => proc.once('exit', r));
}

async function stop(server, signal = 'SIGTERM') {
  if (server.proc.exitCode !== null || server.proc.signalCode !== null) return;
  server.proc.kill(signal);
  await Promise.race([exited(server.proc), sleep(30_000)]);
  if (server.proc.exitCode === null && server.proc.signalCode === null) {
    server.proc.kill('SIGKILL');
    await exited(server.proc);
  }
}

/** Jiffies of the whole machine from /proc/stat: busy (all but idle and iowait), steal, total. */
function machineCpu() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = f;
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - idle - iowait, steal, total };
}

/** Servers alive now, watched for CPU during every phase. */
const LIVE = [];


// ---------------------------------------------------------------------------------------------
// Metrics.

async function scrape(url) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const get = (name) => {
    const m = new RegExp(`^${name} ([0-9.eE+-]+)$`, 'm').exec(text);
    return m ? Number(m[1]) : NaN;
  };
  return {
    backlog: get('solute_processing_backlog_events'),
    stored: get('solute_events_stored_total'),
    accepted: get('solute_events_accepted_total'),
    duplicates: get('solute_events_duplicate_total'),
    rejected: get('solute_events_rejected_total'),
    deadLetters: get('solute_dead_letters_total'),
    rssBytes: get('solute_process_resident_memory_bytes'),
    heapTotalBytes: get('solute_nodejs_heap_size_total_bytes'),
    heapUsedBytes: get('solute_nodejs_heap_size_used_bytes'),
    externalBytes: get('solute_nodejs_external_memory_bytes'),
    dedupeKeys: get('solute_dedupe_keys'),
    dedupeIndexBytes: get('solute_dedupe_index_bytes'),
    segmentLoadSecondsSum: get('solute_segment_load_seconds_sum'),
    segmentLoadCount: get('solute_segment_load_seconds_count'),
  };
}

/** Polls /metrics every intervalMs until the backlog reads 0; returns when (performance.now()) and the last scrape. */
async function waitDrained(server, { intervalMs = 100, timeoutMs = 600_000, onPoll } = {}) {
  const deadline = now() + timeoutMs;
  for (;;) {
    const t = now();
    const m = await scrape(server.url);
    onPoll?.(t, m);
    if (m.backlog === 0) return { at: t, metrics: m };
    if (now() > deadline) throw new Error(`backlog did not drain within ${timeoutMs} ms (backlog ${m.backlog})`);
    if (server.proc.exitCode !== null || server.proc.signalCode !== null) throw new Error('solute exited while draining');
    await sleep(Math.max(0, intervalMs - (now() - t)));
  }
}

// ---------------------------------------------------------------------------------------------
// Load.

/**
 * Autocannon 9 lets each connection send `rate` requests back to back at the start of every second,
 * then idle: at half load that is full-load bursts half the time. PACED replaces that (through the
 * client's internals, autocannon 9.0.x) with one request per connection every 1000/rate ms, phases
 * spread at random, so the same average rate arrives evenly. A connection that falls behind sends
 * its next request as soon as the previous answer arrives.
 */
function paceClient(client) {
  setImmediate(() => {
    if (client.destroyed || !client.rate) return;
    clearInterval(client.rateInterval);
    const interval = 1000 / client.rate;
    client.rate = 1;
    let timer;
    const tick = () => {
      if (client.destroyed) return clearInterval(timer);
      client.reqsMadeThisSecond = 0;
      if (client.paused) {
        client.paused = false;
        client._doRequest();
      }
    };
    timer = setTimeout(() => {
      tick();
      timer = setInterval(tick, interval);
      client.rateInterval = timer; // so that client.destroy() clears it
    }, Math.random() * interval);
    client.rateInterval = timer;
  });
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

/**
 * One load phase against one server. mode: 'full' (closed loop), 'half' (autocannon overallRate),
 * 'paced' (same rate, evenly spaced). Checks every answer: 200 with processed=100, failed=0 and
 * duplicates=0 (absent counts as 0 for the baseline).
 */
async function runPhase(server, { mode, seconds, rate, label, drain = true }) {
  gc();
  const check = { ok: 0, events: 0, badBody: 0, statuses: {}, samples: [] };
  const latencies = [];
  const note = (what) => check.samples.length < 5 && check.samples.push(what);
  const cpu0 = cpuOf(server.pid);
  const mainCpu0 = cpuOf(server.pid, server.pid); // the JavaScript (event loop) thread
  const others = LIVE.filter((s) => s !== server && s.proc.exitCode === null && s.proc.signalCode === null);
  const othersCpu0 = others.map((s) => cpuOf(s.pid));
  const machine0 = machineCpu();
  const self0 = process.cpuUsage();
  const before = server.name === 'solute' ? await scrape(server.url) : null;
  const opts = {
    url: server.url,
    connections: CONNECTIONS,
    pipelining: 1,
    duration: seconds,
    timeout: 10,
    requests: [
      {
        method: 'POST',
        path: '/api/events',
        headers: { 'content-type': 'application/json', 'x-api-key': server.apiKey },
        setupRequest: (req) => {
          req.body = nextBody();
          return req;
        },
        onResponse: (status, body) => {
          if (status !== 200) {
            check.statuses[status] = (check.statuses[status] ?? 0) + 1;
            note(`${status} ${String(body).slice(0, 300)}`);
            return;
          }
          let r;
          try {
            r = JSON.parse(body);
          } catch {
            check.badBody++;
            note(`200 unparseable: ${String(body).slice(0, 300)}`);
            return;
          }
          if (r.processed !== BATCH || r.failed !== 0 || (r.duplicates ?? 0) !== 0 || r.success !== true) {
            check.badBody++;
            note(`200 ${String(body).slice(0, 300)}`);
          }
          check.ok++;
          check.events += (r.processed ?? 0) - (r.duplicates ?? 0);
        },
      },
    ],
  };
  if (mode !== 'full') {
    opts.overallRate = rate;
    // autocannon 9 back-fills "coordinated omission" samples with an expected interval of
    // ceil(1/rate) = 1 ms (a unit slip: rate is per second), which floods the histogram with
    // made-up 1..n ms values; record the real latencies instead.
    opts.ignoreCoordinatedOmission = true;
  }
  if (mode === 'paced') opts.setupClient = paceClient;

  // Resident memory of the server under load, sampled every 250 ms (when in the phase the peak is).
  let rssMax = 0;
  const rssTimer = setInterval(() => {
    try {
      rssMax = Math.max(rssMax, memoryOf(server.pid).rss);
    } catch {
      // exited
    }
  }, 250);
  const startedAt = now();
  const result = await new Promise((resolve, reject) => {
    const inst = autocannon(opts, (err, res) => (err ? reject(err) : resolve(res)));
    inst.on('response', (_client, status, _bytes, ms) => {
      if (status >= 200 && status < 300) latencies.push(ms);
    });
  });
  const endedAt = now();
  clearInterval(rssTimer);
  const wall = (endedAt - startedAt) / 1000;
  const selfCpu = process.cpuUsage(self0);
  const serverCpu = cpuOf(server.pid) - cpu0;
  const serverMainCpu = cpuOf(server.pid, server.pid) - mainCpu0;
  const othersCpu = Object.fromEntries(others.map((s, i) => [s.name, (100 * (cpuOf(s.pid) - othersCpu0[i])) / wall]));
  const machine1 = machineCpu();
  latencies.sort((a, b) => a - b);
  const phase = {
    label,
    server: server.name,
    mode,
    targetRate: rate ?? null,
    seconds: wall,
    startedAt,
    endedAt,
    requests: result.requests.total,
    requestsPerSec: check.ok / wall,
    eventsPerSec: check.events / wall,
    acceptedEvents: check.events,
    latency: {
      // autocannon's histogram (whole milliseconds, rounded down) ...
      autocannon: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max },
      // ... and the same answers' latencies kept exactly (ms).
      exact: { p50: percentile(latencies, 50), p90: percentile(latencies, 90), p99: percentile(latencies, 99), max: latencies.at(-1) ?? NaN, samples: latencies.length },
    },
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statuses: check.statuses,
    badBodies: check.badBody,
    samples: check.samples,
    serverRssMaxBytes: rssMax,
    serverCpuPercent: (100 * serverCpu) / wall,
    serverMainThreadCpuPercent: (100 * serverMainCpu) / wall,
    loadgenCpuPercent: (100 * (selfCpu.user + selfCpu.system)) / 1e6 / wall,
    // CPU the other (idle) server used meanwhile, and the whole machine's busy and steal time.
    otherServerCpuPercent: othersCpu,
    machineBusyPercent: (100 * (machine1.busy - machine0.busy)) / (machine1.total - machine0.total),
    machineStealPercent: (100 * (machine1.steal - machine0.steal)) / (machine1.total - machine0.total),
  };
  // CPU used by processes outside this benchmark (in % of one core): the machine is shared.
  phase.foreignCpuPercent = Math.max(
    0,
    phase.machineBusyPercent * os.cpus().length - phase.serverCpuPercent - phase.loadgenCpuPercent - Object.values(othersCpu).reduce((a, b) => a + b, 0),
  );
  if (server.name === 'solute' && !drain) {
    const after = await scrape(server.url);
    phase.backlogAtLoadEnd = after.backlog;
    phase.backlogGrowth = after.backlog - before.backlog;
  } else if (server.name === 'solute') {
    // Everything acknowledged in this phase stored: end to end from the phase's start.
    let atLoadEnd = null;
    const drained = await waitDrained(server, { onPoll: (_t, m) => (atLoadEnd ??= m) });
    const after = drained.metrics;
    phase.backlogAtLoadEnd = atLoadEnd.backlog;
    phase.backlogGrowth = atLoadEnd.backlog - before.backlog;
    phase.cpuSecondsWithDrain = cpuOf(server.pid) - cpu0;
    phase.storedDuringLoad = atLoadEnd.stored - before.stored;
    phase.segmentsLoaded = after.segmentLoadCount - before.segmentLoadCount;
    phase.segmentLoadSeconds = after.segmentLoadSecondsSum - before.segmentLoadSecondsSum;
    phase.serverAccepted = after.accepted - before.accepted;
    phase.serverStored = after.stored - before.stored;
    phase.drainTailSeconds = (drained.at - endedAt) / 1000;
    phase.endToEndSeconds = (drained.at - startedAt) / 1000;
    phase.serverCpuPercentWithDrain = (100 * (cpuOf(server.pid) - cpu0)) / ((drained.at - startedAt) / 1000);
  }
  log(formatPhase(phase));
  await sleep(1000); // let sockets close and the machine settle before the next phase
  return phase;
}

function formatPhase(p) {
  const e = p.latency.exact;
  const bad = p.non2xx + p.errors + p.badBodies;
  return (
    `  ${p.label.padEnd(22)} ${fmtInt(p.eventsPerSec).padStart(8)} ev/s  ${p.requestsPerSec.toFixed(0).padStart(5)} req/s  ` +
    `p50 ${e.p50.toFixed(2)} ms  p99 ${e.p99.toFixed(2)} ms  cpu: server ${p.serverCpuPercent.toFixed(0)}% (main thread ${p.serverMainThreadCpuPercent.toFixed(0)}%) loadgen ${p.loadgenCpuPercent.toFixed(0)}% ` +
    `${Object.entries(p.otherServerCpuPercent).map(([k, v]) => `${k} ${v.toFixed(0)}% `).join('')}foreign ${p.foreignCpuPercent.toFixed(0)}% (machine ${p.machineBusyPercent.toFixed(0)}% of ${os.cpus().length} cores)` +
    (p.endToEndSeconds === undefined && p.backlogGrowth !== undefined ? `  backlog grew by ${fmtInt(p.backlogGrowth)} (processing deferred)` : '') +
    (p.endToEndSeconds !== undefined
      ? `  e2e ${p.endToEndSeconds.toFixed(2)} s (tail ${p.drainTailSeconds.toFixed(2)} s, backlog at load end ${fmtInt(p.backlogAtLoadEnd)}; ` +
        `${p.segmentsLoaded} segments loaded in ${p.segmentLoadSeconds.toFixed(1)} s)`
      : '') +
    (bad ? `  !! non-2xx ${p.non2xx} errors ${p.errors} bad bodies ${p.badBodies} ${JSON.stringify(p.statuses)}` : '')
  );
}

// ---------------------------------------------------------------------------------------------
// Formatting.

const lines = [];
function log(s = '') {
  lines.push(s);
  process.stdout.write(s + '\n');
}
const median = (xs) => {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
const fmtInt = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const fmtMs = (n) => (Number.isFinite(n) ? (n >= 100 ? n.toFixed(0) : n.toFixed(2)) : 'n/a');
const fmtX = (n) => (Number.isFinite(n) ? n.toFixed(2) + '×' : 'n/a');
const mib = (b) => (Number.isFinite(b) ? (b / 1024 / 1024).toFixed(0) + ' MiB' : 'n/a');

function table(title, header, rows) {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => String(r[i] ?? '').length)));
  log(title);
  const fmt = (r) => '  ' + r.map((c, i) => (i === 0 ? String(c ?? '').padEnd(widths[i]) : String(c ?? '').padStart(widths[i]))).join('   ');
  log(fmt(header));
  log('  ' + widths.map((w) => '-'.repeat(w)).join('   '));
  for (const r of rows) log(fmt(r));
  log();
}

/** fdatasync latency of the data dir's file system (64 KiB appends), as machine context. */
function fsyncProbe(dir) {
  const file = path.join(dir, '.fsync-probe');
  const fd = fs.openSync(file, 'w');
  const buf = Buffer.alloc(64 * 1024, 97);
  const times = [];
  try {
    for (let i = 0; i < 200; i++) {
      fs.writeSync(fd, buf);
      const t = now();
      fs.fdatasyncSync(fd);
      times.push(now() - t);
    }
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99) };
}

function gitState() {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter(Boolean).length;
    return { commit, dirty };
  } catch {
    return { commit: 'unknown', dirty: 0 };
  }
}

function mountOf(dir) {
  try {
    const mounts = fs.readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' '));
    let best = null;
    for (const [dev, mnt, type] of mounts) {
      if (mnt && (dir === mnt || dir.startsWith(mnt.endsWith('/') ? mnt : mnt + '/')) && (!best || mnt.length > best.mnt.length)) best = { dev, mnt, type };
    }
    return best;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// The run.

async function main() {
  const startedAt = new Date();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'solute-bench-'));
  const cpus = os.cpus();
  const mount = mountOf(fs.realpathSync(dataDir));
  const fsync = fsyncProbe(dataDir);
  const machine = {
    cpuModel: cpus[0]?.model ?? 'unknown',
    cpus: cpus.length,
    totalMemBytes: os.totalmem(),
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    dataDir,
    dataFs: mount ? `${mount.type} (${mount.dev} on ${mount.mnt})` : 'unknown',
    fdatasync64KiBms: fsync,
    loadavgAtStart: os.loadavg(),
  };
  const git = gitState();
  log(`Solute benchmark — run ${RUN}, ${startedAt.toISOString()}`);
  log(`machine: ${machine.cpuModel} × ${machine.cpus} cores, ${(machine.totalMemBytes / 2 ** 30).toFixed(1)} GiB RAM, node ${machine.node}, ${machine.platform}`);
  log(`solute: commit ${git.commit}${git.dirty ? ` plus uncommitted changes in ${git.dirty} file(s) under src/` : ''} (as built by npm run build)`);
  log(`data dir: ${dataDir} on ${machine.dataFs}; fdatasync of a 64 KiB append p50 ${fsync.p50.toFixed(2)} ms, p99 ${fsync.p99.toFixed(2)} ms; load average ${machine.loadavgAtStart.map((x) => x.toFixed(2)).join(' ')}`);
  if (MODE === 'overload') {
    log();
    try {
      return await overloadOnly(machine, git);
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true }); // holds only the fsync probe's traces
    }
  }
  if (MODE === 'event-path') {
    log();
    try {
      const eventPath = await eventPathPhases([]);
      fs.mkdirSync(path.dirname(RESULTS), { recursive: true });
      fs.writeFileSync(RESULTS.replace(/latest\.json$/, 'event-path.json'), JSON.stringify({ run: RUN, machine, git, eventPath }, null, 2) + '\n');
      return;
    } finally {
      for (const server of LIVE) await stop(server);
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }
  log(
    `load: autocannon on loopback, ${CONNECTIONS} connections, ${BATCH} events/request (${(TEMPLATE.buf.length / 1024).toFixed(1)} KiB body, ~${TEMPLATE.eventBytes} B/event), ` +
      `${SECONDS} s per phase, ${ROUNDS} round(s), warm-up ${WARMUP_SECONDS} s per server, phases interleaved baseline → solute`,
  );
  log();

  const phases = [];
  let baseline = null;
  let solute = null;
  let processorRun = null;
  const anomalies = [];
  try {
    const apiKey = soluteKey(dataDir);
    baseline = await startBaseline();
    solute = await startSolute(dataDir, apiKey);
    log(`servers: baseline pid ${baseline.pid} ${baseline.url}; solute pid ${solute.pid} ${solute.url} (ready ${((solute.readyAt - solute.spawnedAt) / 1000).toFixed(2)} s after spawn)`);
    log();

    log('warm-up (not reported)');
    phases.push(await runPhase(baseline, { mode: 'full', seconds: WARMUP_SECONDS, label: 'baseline warm-up' }));
    phases.push(await runPhase(solute, { mode: 'full', seconds: WARMUP_SECONDS, label: 'solute warm-up' }));
    phases.at(-2).warmup = phases.at(-1).warmup = true;
    log();

    log('full load (closed loop)');
    for (let r = 1; r <= ROUNDS; r++) {
      phases.push({ ...(await runPhase(baseline, { mode: 'full', seconds: SECONDS, label: `baseline full r${r}` })), round: r });
      phases.push({ ...(await runPhase(solute, { mode: 'full', seconds: SECONDS, label: `solute full r${r}` })), round: r });
    }
    const soluteFullRps = median(phases.filter((p) => !p.warmup && p.mode === 'full' && p.server === 'solute').map((p) => p.requestsPerSec));
    const halfRate = Math.max(1, Math.round(soluteFullRps / 2));
    log();

    log(`half load: ${halfRate} req/s (${fmtInt(halfRate * BATCH)} events/s) = half of Solute's median full-load rate, same rate for both servers`);
    for (let r = 1; r <= ROUNDS; r++) {
      phases.push({ ...(await runPhase(baseline, { mode: 'half', rate: halfRate, seconds: SECONDS, label: `baseline half r${r}` })), round: r });
      phases.push({ ...(await runPhase(solute, { mode: 'half', rate: halfRate, seconds: SECONDS, label: `solute half r${r}` })), round: r });
      if (PACED) {
        phases.push({ ...(await runPhase(baseline, { mode: 'paced', rate: halfRate, seconds: SECONDS, label: `baseline paced r${r}` })), round: r });
        phases.push({ ...(await runPhase(solute, { mode: 'paced', rate: halfRate, seconds: SECONDS, label: `solute paced r${r}` })), round: r });
      }
    }
    log();

    // Peak memory of the servers that served all the load above.
    const soluteMem = memoryOf(solute.pid);
    const baselineMem = memoryOf(baseline.pid);
    const totals = await scrape(solute.url);
    const soluteLog = { levels: solute.out.levels, samples: solute.out.samples }; // warn/error lines it logged
    if (soluteLog.levels.error || soluteLog.levels.fatal) {
      anomalies.push(`solute logged ${soluteLog.levels.error} error and ${soluteLog.levels.fatal} fatal lines, e.g. ${soluteLog.samples.join(' | ')}`);
    }
    await stop(baseline);

    // Processor: leave a backlog in the log, SIGKILL, restart on the same data dir and time the drain.
    processorRun = await processorPhase(dataDir, apiKey, solute);
    solute = processorRun.restarted;

    const summary = summarize({ phases, halfRate, soluteMem, baselineMem, processorRun, totals, anomalies });
    await stop(solute);
    const eventPath = EVENT_PATH ? await eventPathPhases(phases) : null;
    const overload = await runOverload(overloadTools());
    if (overload.failures.length) process.exitCode = 1;
    const result = {
      run: RUN,
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      config: { seconds: SECONDS, rounds: ROUNDS, connections: CONNECTIONS, batch: BATCH, bodyBytes: TEMPLATE.buf.length, eventBytes: TEMPLATE.eventBytes, warmupSeconds: WARMUP_SECONDS, paced: PACED },
      machine,
      git,
      summary,
      eventPath,
      processor: { ...processorRun, restarted: undefined, killed: undefined },
      phases,
      anomalies,
      soluteLog,
      restartedSoluteLog: { levels: solute.out.levels, samples: solute.out.samples },
      overload,
    };
    fs.mkdirSync(path.dirname(RESULTS), { recursive: true });
    fs.writeFileSync(RESULTS, JSON.stringify(result, null, 2) + '\n');
    log(`figures written to ${path.relative(process.cwd(), RESULTS)} (this output to ${path.relative(process.cwd(), RESULTS.replace(/\.json$/, '.txt'))})`);
    fs.writeFileSync(RESULTS.replace(/\.json$/, '.txt'), lines.join('\n') + '\n');
  } finally {
    for (const server of LIVE) await stop(server); // whatever is still running, also after a failure
    if (!KEEP) fs.rmSync(dataDir, { recursive: true, force: true });
    else log(`data dir kept: ${dataDir}`);
  }
}

/** What bench/overload.mjs uses of this file. */
function overloadTools() {
  return { BIN, BATCH, envInt, log, table, fmtInt, fmtMs, mib, now, median, percentile, startSolute, stop, memoryOf, cpuOf, machineCpu, scrape, waitDrained, nextNumberedBody };
}

/** `node bench/run.mjs overload`: the overload scenario alone. */
async function overloadOnly(machine, git) {
  const result = await runOverload(overloadTools());
  if (result.failures.length) process.exitCode = 1;
  const file = RESULTS.replace(/latest\.json$/, 'overload.json');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify({ run: RUN, finishedAt: new Date().toISOString(), machine, git, overload: result }, null, 2) + '\n');
  fs.writeFileSync(file.replace(/\.json$/, '.txt'), lines.join('\n') + '\n');
  log(`figures written to ${path.relative(process.cwd(), file)} (this output to ${path.relative(process.cwd(), file.replace(/\.json$/, '.txt'))})`);
  for (const server of LIVE) await stop(server);
}

/**
 * Builds a backlog, SIGKILLs Solute, restarts it on the same data dir and times the drain.
 * The server of the load phases holds no backlog (each phase waits for the drain, and with the
 * default settings a segment reaches the processor within a second), so it is stopped cleanly and
 * a fresh `solute serve` on the same data dir, with SOLUTE_SEGMENT_MAX_AGE_MS and
 * SOLUTE_SEGMENT_MAX_BYTES raised so that nothing it accepts reaches its processor, takes a
 * closed-loop burst until /metrics shows at least MIN_BACKLOG events in the backlog; then SIGKILL.
 * The restart uses the default settings.
 */
/**
 * Issue 10's figures, each Solute figure beside the bare Fastify baseline of the same run, default
 * configuration, on fresh data directories:
 *   1. CPU per event: a paced 20k events/s phase of BENCH_CPU_SECONDS (20), CPU of every thread from its
 *      start until the backlog is 0, divided by the events acknowledged (the baseline: over its phase);
 *   2. sustained rate: a 16-connection closed loop for BENCH_SUSTAINED_SECONDS (60); (acknowledged −
 *      growth of solute_processing_backlog_events) ÷ seconds, against the same loop on the baseline;
 *   3. ack path with processing deferred (segments that never close): closed loop, against the baseline;
 *   4. p99 of the acknowledgement at half the sustained rate, paced evenly, processing running (a
 *      refused request counts as the slowest);
 *   5. processor alone: bench/processor.mjs, a backlog of BENCH_PROCESSOR_EVENTS (1M) in default-size
 *      segments with 5% identify/group/alias and 300 user agents, from /readyz until stored;
 *   6. peak RSS (VmHWM) of each Solute process, and the dedupe keys it held.
 */
async function eventPathPhases(earlier) {
  log('event path (issue 10): fresh servers, default configuration');
  const dirs = [];
  const fresh = async (env = {}) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'solute-bench-event-path-'));
    dirs.push(dir);
    return startSolute(dir, soluteKey(dir), env);
  };
  const out = {};
  const peaks = [];
  const keep = (server) => {
    const m = memoryOf(server.pid);
    peaks.push({ what: server.label, hwm: m.hwm });
  };
  const baseline = await startBaseline();
  try {
    let solute = await fresh();
    solute.label = 'solute (cpu, sustained, p99)';
    await runPhase(baseline, { mode: 'full', seconds: WARMUP_SECONDS, label: 'baseline warm-up' });
    await runPhase(solute, { mode: 'full', seconds: WARMUP_SECONDS, label: 'solute warm-up' });

    // 1. CPU per event at 20k events/s.
    const rate = 200;
    const bCpu = await runPhase(baseline, { mode: 'paced', rate, seconds: PACED_CPU_SECONDS, label: 'baseline 20k ev/s' });
    const sCpu = await runPhase(solute, { mode: 'paced', rate, seconds: PACED_CPU_SECONDS, label: 'solute 20k ev/s' });
    out.cpuMicrosPerEvent = {
      solute: (1e6 * sCpu.cpuSecondsWithDrain) / sCpu.acceptedEvents,
      baseline: (1e6 * (bCpu.serverCpuPercent / 100) * bCpu.seconds) / bCpu.acceptedEvents,
      soluteNon2xx: sCpu.non2xx,
    };

    // 2. Sustained rate.
    const bSus = await runPhase(baseline, { mode: 'full', seconds: SUSTAINED_SECONDS, label: `baseline ${SUSTAINED_SECONDS} s loop` });
    const sSus = await runPhase(solute, { mode: 'full', seconds: SUSTAINED_SECONDS, label: `solute ${SUSTAINED_SECONDS} s loop` });
    const sustained = (sSus.acceptedEvents - Math.max(0, sSus.backlogGrowth)) / sSus.seconds;
    out.sustained = { solute: sustained, acknowledged: sSus.eventsPerSec, backlogGrowth: sSus.backlogGrowth, baseline: bSus.eventsPerSec, ratio: sustained / bSus.eventsPerSec };

    // 4. p99 at half the sustained rate, paced, processing running.
    const halfReqs = Math.max(1, Math.round(sustained / 2 / BATCH));
    const sHalf = await runPhase(solute, { mode: 'paced', rate: halfReqs, seconds: SECONDS, label: `solute paced ${fmtInt(halfReqs * BATCH)} ev/s` });
    const bHalf = await runPhase(baseline, { mode: 'paced', rate: halfReqs, seconds: SECONDS, label: `baseline paced ${fmtInt(halfReqs * BATCH)} ev/s` });
    const refused = sHalf.non2xx + sHalf.errors + sHalf.timeouts;
    out.halfRateP99 = { eventsPerSec: halfReqs * BATCH, solute: refused > 0 ? Infinity : sHalf.latency.exact.p99, refused, baseline: bHalf.latency.exact.p99 };
    keep(solute);
    out.dedupeKeys = (await scrape(solute.url)).dedupeKeys;
    await stop(solute);

    // 3. Ack path with processing deferred: segments that never close while the phase runs.
    solute = await fresh({ SOLUTE_SEGMENT_MAX_AGE_MS: '86400000', SOLUTE_SEGMENT_MAX_BYTES: String(4 * 2 ** 30), SOLUTE_BACKLOG_MAX_EVENTS: '100000000', SOLUTE_PROJECT_BACKLOG_MAX_EVENTS: '100000000' });
    solute.label = 'solute (ack only)';
    await runPhase(solute, { mode: 'full', seconds: WARMUP_SECONDS, label: 'solute warm-up', drain: false });
    const acks = [];
    for (let r = 1; r <= ROUNDS; r++) {
      const b = await runPhase(baseline, { mode: 'full', seconds: SECONDS, label: `baseline full r${r}` });
      const a = await runPhase(solute, { mode: 'full', seconds: SECONDS, label: `solute ack-only r${r}`, drain: false });
      acks.push({ solute: a.eventsPerSec, baseline: b.eventsPerSec, ratio: a.eventsPerSec / b.eventsPerSec });
    }
    out.ackOnly = { solute: median(acks.map((a) => a.solute)), baseline: median(acks.map((a) => a.baseline)), ratio: median(acks.map((a) => a.ratio)) };
    keep(solute);
    await stop(solute, 'SIGKILL'); // its backlog is not what this measures
  } finally {
    await stop(baseline);
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  }

  // 5. Processor alone.
  log(`  processor alone: bench/processor.mjs ${PROCESSOR_EVENTS} ...`);
  const text = execFileSync(process.execPath, [path.join(import.meta.dirname, 'processor.mjs'), String(PROCESSOR_EVENTS)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  out.processor = JSON.parse(text.trim().split('\n').at(-1));
  peaks.push({ what: 'solute (processor alone)', hwm: out.processor.peakRssMiB * 2 ** 20 });
  log(`  ${text.trim().split('\n').join('\n  ')}`);
  const earlierPeak = Math.max(...earlier.filter((p) => p.server === 'solute').map((p) => p.serverRssMaxBytes));
  if (Number.isFinite(earlierPeak)) peaks.push({ what: 'solute (load phases above)', hwm: earlierPeak });
  out.peakRss = peaks;
  log();

  const x = out;
  table(`event path (issue 10), run ${RUN}`, ['figure', 'solute', 'baseline', 'ratio / value', 'target'], [
    ['1. CPU per event, paced 20k ev/s until stored', `${x.cpuMicrosPerEvent.solute.toFixed(1)} µs`, `${x.cpuMicrosPerEvent.baseline.toFixed(1)} µs`, '', '≤ 15 µs'],
    [`2. sustained, ${SUSTAINED_SECONDS} s loop (acked ${fmtInt(x.sustained.acknowledged)}/s, backlog +${fmtInt(x.sustained.backlogGrowth)})`, `${fmtInt(x.sustained.solute)} ev/s`, `${fmtInt(x.sustained.baseline)} ev/s`, fmtX(x.sustained.ratio), '≥ 0.4×'],
    ['3. ack path, processing deferred', `${fmtInt(x.ackOnly.solute)} ev/s`, `${fmtInt(x.ackOnly.baseline)} ev/s`, fmtX(x.ackOnly.ratio), '≥ 0.7×'],
    [`4. p99 at half the sustained rate (${fmtInt(x.halfRateP99.eventsPerSec)} ev/s), paced`, Number.isFinite(x.halfRateP99.solute) ? `${fmtMs(x.halfRateP99.solute)} ms` : `${x.halfRateP99.refused} refused`, `${fmtMs(x.halfRateP99.baseline)} ms`, '', '≤ 10 ms'],
    [`5. processor alone, ${fmtInt(x.processor.events)} events, from /readyz`, `${fmtInt(x.processor.eventsPerSecondFromReady)} ev/s`, '', `${fmtInt(x.processor.eventsPerSecondFromStart)} ev/s from start`, '≥ 150,000 ev/s'],
    [`6. peak RSS (dedupe keys held: ${fmtInt(x.dedupeKeys)})`, mib(Math.max(...x.peakRss.map((p) => p.hwm))), '', x.peakRss.map((p) => `${p.what} ${mib(p.hwm)}`).join('; '), '≤ 512 MiB'],
  ]);
  return out;
}

async function processorPhase(dataDir, apiKey, solute) {
  const info = {};
  // The server that served the load phases: its peak memory is read by the caller; stop it cleanly.
  await stop(solute);

  const holdEnv = { SOLUTE_SEGMENT_MAX_AGE_MS: String(24 * 3600 * 1000), SOLUTE_SEGMENT_MAX_BYTES: String(4 * 1024 ** 3) };
  const holder = await startSolute(dataDir, apiKey, holdEnv);
  info.holderEnv = holdEnv;
  // Its start opens the same store and dedupe index (every key of the load phases) with no log to
  // recover: the restart's time to ready minus this one is roughly the recovery of the log itself.
  info.holderReadySeconds = (holder.readyAt - holder.spawnedAt) / 1000;
  info.bursts = [];
  let before = await scrape(holder.url);
  for (let i = 0; i < 3 && before.backlog < MIN_BACKLOG; i++) {
    info.bursts.push(await runBurst(holder, Math.ceil((MIN_BACKLOG - before.backlog) / BATCH)));
    before = await scrape(holder.url);
  }
  info.backlogBeforeKill = before.backlog;
  if (before.backlog < MIN_BACKLOG) log(`processor: only ${before.backlog} events in the backlog after ${info.bursts.length} bursts`);
  info.holderMem = memoryOf(holder.pid);
  holder.proc.kill('SIGKILL');
  await exited(holder.proc);
  info.killedWith = 'SIGKILL';
  const logDir = path.join(dataDir, 'log');
  const segs = fs.readdirSync(logDir).filter((f) => f.endsWith('.ndjson'));
  info.segmentsOnDisk = segs.length;
  info.logBytesOnDisk = segs.reduce((s, f) => s + fs.statSync(path.join(logDir, f)).size, 0);
  log(`processor: backlog ${fmtInt(info.backlogBeforeKill)} events before SIGKILL; ${segs.length} segment(s), ${mib(info.logBytesOnDisk)} on disk`);

  // Restart with the default settings and time the drain.
  const machine0 = machineCpu();
  const self0 = process.cpuUsage();
  const restarted = await startSolute(dataDir, apiKey);
  info.restartedMemAtReady = memoryOf(restarted.pid); // peak so far: recovery of the log
  const polls = [];
  const drained = await waitDrained(restarted, { intervalMs: 100, onPoll: (t, m) => polls.push({ t: (t - restarted.spawnedAt) / 1000, stored: m.stored, backlog: m.backlog }) });
  const stored = drained.metrics.stored;
  {
    const machine1 = machineCpu();
    const wall = (drained.at - restarted.spawnedAt) / 1000;
    const selfCpu = process.cpuUsage(self0);
    info.cpu = {
      solutePercent: (100 * cpuOf(restarted.pid)) / wall,
      soluteMainThreadPercent: (100 * cpuOf(restarted.pid, restarted.pid)) / wall,
      machineBusyPercent: (100 * (machine1.busy - machine0.busy)) / (machine1.total - machine0.total),
    };
    info.cpu.foreignPercent = Math.max(
      0,
      info.cpu.machineBusyPercent * os.cpus().length - info.cpu.solutePercent - (100 * (selfCpu.user + selfCpu.system)) / 1e6 / wall,
    );
  }
  info.readySeconds = (restarted.readyAt - restarted.spawnedAt) / 1000;
  info.spawnToDrainedSeconds = (drained.at - restarted.spawnedAt) / 1000;
  info.readyToDrainedSeconds = (drained.at - restarted.readyAt) / 1000;
  info.stored = stored;
  info.deadLetters = drained.metrics.deadLetters;
  info.eventsPerSecFromSpawn = stored / info.spawnToDrainedSeconds;
  info.eventsPerSecFromReady = stored / info.readyToDrainedSeconds;
  info.backlogAtFirstScrape = polls[0]?.backlog;
  info.polls = polls;
  info.restartedMem = memoryOf(restarted.pid);
  log(
    `processor: restart ready after ${info.readySeconds.toFixed(2)} s, drained ${fmtInt(stored)} events ${info.spawnToDrainedSeconds.toFixed(2)} s after spawn ` +
      `(${fmtInt(info.eventsPerSecFromSpawn)} ev/s), ${info.readyToDrainedSeconds.toFixed(2)} s after ready (${fmtInt(info.eventsPerSecFromReady)} ev/s); ` +
      `cpu: solute ${info.cpu.solutePercent.toFixed(0)}% (main thread ${info.cpu.soluteMainThreadPercent.toFixed(0)}%) foreign ${info.cpu.foreignPercent.toFixed(0)}%`,
  );
  log();
  return { ...info, restarted, killed: holder };
}

/** A closed-loop burst of exactly `requests` requests (not timed as a figure). */
async function runBurst(server, requests) {
  const check = { ok: 0, other: 0 };
  const t = now();
  const result = await new Promise((resolve, reject) =>
    autocannon(
      {
        url: server.url,
        connections: CONNECTIONS,
        amount: requests,
        timeout: 10,
        requests: [
          {
            method: 'POST',
            path: '/api/events',
            headers: { 'content-type': 'application/json', 'x-api-key': server.apiKey },
            setupRequest: (req) => ((req.body = nextBody()), req),
            onResponse: (status) => (status === 200 ? check.ok++ : check.other++),
          },
        ],
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    ),
  );
  const seconds = (now() - t) / 1000;
  log(`processor: burst of ${result.requests.total} requests to the backlog holder in ${seconds.toFixed(1)} s (${fmtInt((check.ok * BATCH) / seconds)} events/s acknowledged with the processor idle; not a side-by-side figure)`);
  return { requests: result.requests.total, ok: check.ok, non2xx: result.non2xx, errors: result.errors, seconds, eventsPerSec: (check.ok * BATCH) / seconds };
}

function summarize({ phases, halfRate, soluteMem, baselineMem, processorRun, totals, anomalies }) {
  const measured = phases.filter((p) => !p.warmup);
  const pick = (server, mode) => measured.filter((p) => p.server === server && p.mode === mode);
  const rounds = (mode) => {
    const b = pick('baseline', mode);
    const s = pick('solute', mode);
    return s.map((sp, i) => ({ round: sp.round, baseline: b[i], solute: sp }));
  };
  const full = rounds('full');
  const half = rounds('half');
  const paced = rounds('paced');

  const lat = (p, k) => p?.latency.exact[k];
  const latAc = (p, k) => p?.latency.autocannon[k];
  const S = {
    full: {
      baselineEventsPerSec: median(full.map((r) => r.baseline.eventsPerSec)),
      soluteEventsPerSec: median(full.map((r) => r.solute.eventsPerSec)),
      ratioMedianOfRounds: median(full.map((r) => r.solute.eventsPerSec / r.baseline.eventsPerSec)),
      ratioPerRound: full.map((r) => r.solute.eventsPerSec / r.baseline.eventsPerSec),
    },
    halfRateRequestsPerSec: halfRate,
    latency: {},
    endToEnd: {
      perRound: full.map((r) => ({ round: r.round, seconds: r.solute.endToEndSeconds, tailSeconds: r.solute.drainTailSeconds, events: r.solute.serverStored })),
    },
    peakRss: {
      solute: soluteMem.hwm,
      baseline: baselineMem.hwm,
      soluteBacklogHolder: processorRun.holderMem?.hwm,
      soluteRestartedProcessor: processorRun.restartedMem?.hwm,
    },
    processor: {
      backlogBeforeKill: processorRun.backlogBeforeKill,
      stored: processorRun.stored,
      readySeconds: processorRun.readySeconds,
      startWithoutLogSeconds: processorRun.holderReadySeconds,
      spawnToDrainedSeconds: processorRun.spawnToDrainedSeconds,
      readyToDrainedSeconds: processorRun.readyToDrainedSeconds,
      eventsPerSecFromSpawn: processorRun.eventsPerSecFromSpawn,
      eventsPerSecFromReady: processorRun.eventsPerSecFromReady,
    },
    totals,
  };
  for (const [name, rs] of [['full', full], ['half', half], ['paced', paced]]) {
    if (rs.length === 0) continue;
    S.latency[name] = {};
    for (const who of ['baseline', 'solute']) {
      S.latency[name][who] = {
        p50: median(rs.map((r) => lat(r[who], 'p50'))),
        p99: median(rs.map((r) => lat(r[who], 'p99'))),
        autocannonP50: median(rs.map((r) => latAc(r[who], 'p50'))),
        autocannonP99: median(rs.map((r) => latAc(r[who], 'p99'))),
        achievedRequestsPerSec: median(rs.map((r) => r[who].requestsPerSec)),
      };
    }
  }
  S.endToEnd.medianSeconds = median(S.endToEnd.perRound.map((r) => r.seconds));
  S.endToEnd.medianTailSeconds = median(S.endToEnd.perRound.map((r) => r.tailSeconds));

  // Anomalies: anything not a clean 200 with processed=100, lost or doubled events, log errors.
  for (const p of phases) {
    if (p.non2xx || p.errors || p.timeouts || p.badBodies) {
      anomalies.push(`${p.label}: non-2xx ${p.non2xx} ${JSON.stringify(p.statuses)}, socket errors ${p.errors}, timeouts ${p.timeouts}, bad 200 bodies ${p.badBodies}; e.g. ${p.samples.join(' | ')}`);
    }
    if (p.server === 'solute' && p.serverStored !== undefined) {
      if (p.serverStored !== p.serverAccepted) anomalies.push(`${p.label}: server accepted ${p.serverAccepted} events but stored ${p.serverStored}`);
      if (Math.abs(p.serverAccepted - p.acceptedEvents) > CONNECTIONS * BATCH) {
        anomalies.push(`${p.label}: client counted ${p.acceptedEvents} accepted events, server ${p.serverAccepted}`);
      }
    }
  }
  if (totals.duplicates > 0) anomalies.push(`solute counted ${totals.duplicates} duplicates; every messageId was unique`);
  if (totals.rejected > 0) anomalies.push(`solute rejected ${totals.rejected} events as invalid`);
  if (totals.deadLetters > 0 || processorRun.deadLetters > 0) anomalies.push(`dead letters: ${totals.deadLetters} during load, ${processorRun.deadLetters} after restart`);
  for (const b of processorRun.bursts) if (b.non2xx || b.errors) anomalies.push(`backlog burst: non-2xx ${b.non2xx}, errors ${b.errors}`);
  if (processorRun.stored < processorRun.backlogBeforeKill) {
    anomalies.push(`processor restart stored ${processorRun.stored} events, fewer than the ${processorRun.backlogBeforeKill} backlog read before SIGKILL`);
  }
  for (const [name, rs] of Object.entries(S.latency)) {
    if (name === 'full') continue;
    for (const who of ['baseline', 'solute']) {
      const got = rs[who].achievedRequestsPerSec;
      if (got < 0.95 * halfRate) anomalies.push(`${name} load: ${who} reached ${got.toFixed(0)} req/s of the ${halfRate} asked`);
    }
  }

  // CPU of processes outside the benchmark during each phase of a round: how disturbed the pair was.
  const foreignRow = (rs) => ['  other processes\' cpu b / s', ...rs.map((r) => `${r.baseline.foreignCpuPercent.toFixed(0)}% / ${r.solute.foreignCpuPercent.toFixed(0)}%`), '', ''];

  // The table.
  log('=== results (medians over rounds; every Solute figure next to its baseline from the same run) ===');
  log();
  const roundCols = full.map((r) => `r${r.round}`);
  table('ack path, full load (16 connections, closed loop)', ['', ...roundCols, 'median', 'target'], [
    ['baseline events/s', ...full.map((r) => fmtInt(r.baseline.eventsPerSec)), fmtInt(S.full.baselineEventsPerSec), ''],
    ['solute events/s', ...full.map((r) => fmtInt(r.solute.eventsPerSec)), fmtInt(S.full.soluteEventsPerSec), ''],
    ['solute / baseline', ...S.full.ratioPerRound.map(fmtX), fmtX(S.full.ratioMedianOfRounds), '≥ 0.70×'],
    ['baseline p50 / p99 ms', ...full.map((r) => `${fmtMs(lat(r.baseline, 'p50'))} / ${fmtMs(lat(r.baseline, 'p99'))}`), `${fmtMs(S.latency.full.baseline.p50)} / ${fmtMs(S.latency.full.baseline.p99)}`, ''],
    ['solute p50 / p99 ms', ...full.map((r) => `${fmtMs(lat(r.solute, 'p50'))} / ${fmtMs(lat(r.solute, 'p99'))}`), `${fmtMs(S.latency.full.solute.p50)} / ${fmtMs(S.latency.full.solute.p99)}`, ''],
    ['  (autocannon, whole ms) b / s p99', ...full.map((r) => `${latAc(r.baseline, 'p99')} / ${latAc(r.solute, 'p99')}`), `${S.latency.full.baseline.autocannonP99} / ${S.latency.full.solute.autocannonP99}`, ''],
    foreignRow(full),
  ]);
  const latRows = (name, title) => {
    const rs = { half, paced }[name];
    const L = S.latency[name];
    if (!L) return;
    table(title, ['', ...rs.map((r) => `r${r.round}`), 'median', 'target'], [
      ['baseline req/s reached', ...rs.map((r) => r.baseline.requestsPerSec.toFixed(0)), L.baseline.achievedRequestsPerSec.toFixed(0), ''],
      ['solute req/s reached', ...rs.map((r) => r.solute.requestsPerSec.toFixed(0)), L.solute.achievedRequestsPerSec.toFixed(0), ''],
      ['baseline p50 / p99 ms', ...rs.map((r) => `${fmtMs(lat(r.baseline, 'p50'))} / ${fmtMs(lat(r.baseline, 'p99'))}`), `${fmtMs(L.baseline.p50)} / ${fmtMs(L.baseline.p99)}`, ''],
      ['solute p50 / p99 ms', ...rs.map((r) => `${fmtMs(lat(r.solute, 'p50'))} / ${fmtMs(lat(r.solute, 'p99'))}`), `${fmtMs(L.solute.p50)} / ${fmtMs(L.solute.p99)}`, name === 'half' ? 'p99 ≤ 10 ms' : ''],
      ['solute / baseline p99', ...rs.map((r) => fmtX(lat(r.solute, 'p99') / lat(r.baseline, 'p99'))), fmtX(L.solute.p99 / L.baseline.p99), ''],
      ['  (autocannon, whole ms) b / s p99', ...rs.map((r) => `${latAc(r.baseline, 'p99')} / ${latAc(r.solute, 'p99')}`), `${L.baseline.autocannonP99} / ${L.solute.autocannonP99}`, ''],
      foreignRow(rs),
    ]);
  };
  latRows('half', `ack path, half load: autocannon overallRate ${halfRate} req/s (${fmtInt(halfRate * BATCH)} events/s; autocannon sends each second's quota in a burst)`);
  latRows('paced', `ack path, half load paced evenly: ${halfRate} req/s, one request per connection every ${(1000 / (halfRate / CONNECTIONS)).toFixed(1)} ms`);
  const P = S.processor;
  table('processor, no HTTP load (restart after SIGKILL, default settings)', ['', 'value', 'target'], [
    ['backlog in the log at SIGKILL (events)', fmtInt(P.backlogBeforeKill), ''],
    ['events stored by the restarted process', fmtInt(P.stored), ''],
    ['spawn → /readyz 200 (s; recovery of the log)', P.readySeconds.toFixed(2), ''],
    ['  same start with no log to recover (s)', processorRun.holderReadySeconds.toFixed(2), ''],
    ['spawn → backlog 0 (s)', P.spawnToDrainedSeconds.toFixed(2), ''],
    ['events/s, spawn → drained', fmtInt(P.eventsPerSecFromSpawn), '≥ 100,000'],
    ['events/s, /readyz → drained', fmtInt(P.eventsPerSecFromReady), '≥ 100,000'],
  ]);
  table('end to end, full load: phase start → backlog 0', ['', ...S.endToEnd.perRound.map((r) => `r${r.round}`), 'median'], [
    ['seconds', ...S.endToEnd.perRound.map((r) => r.seconds.toFixed(2)), S.endToEnd.medianSeconds.toFixed(2)],
    ['  of which after the load stopped', ...S.endToEnd.perRound.map((r) => r.tailSeconds.toFixed(2)), S.endToEnd.medianTailSeconds.toFixed(2)],
    ['events acknowledged and stored', ...S.endToEnd.perRound.map((r) => fmtInt(r.events)), ''],
    ['backlog when the load stopped (events)', ...full.map((r) => fmtInt(r.solute.backlogAtLoadEnd)), ''],
    ['stored while the load ran (events/s)', ...full.map((r) => fmtInt(r.solute.storedDuringLoad / r.solute.seconds)), fmtInt(median(full.map((r) => r.solute.storedDuringLoad / r.solute.seconds)))],
    ['segments loaded / mean load time (s)', ...full.map((r) => `${r.solute.segmentsLoaded} / ${(r.solute.segmentLoadSeconds / r.solute.segmentsLoaded).toFixed(2)}`), ''],
  ]);
  table('peak RSS (VmHWM)', ['', 'value'], [
    ['solute (served every load phase)', mib(S.peakRss.solute)],
    ['  highest RSS sampled in a full-load phase', mib(Math.max(...pick('solute', 'full').map((p) => p.serverRssMaxBytes)))],
    ['  highest RSS sampled in a half-load phase', mib(Math.max(...[...pick('solute', 'half'), ...pick('solute', 'paced')].map((p) => p.serverRssMaxBytes)))],
    ['baseline', mib(S.peakRss.baseline)],
    ['solute holding the backlog (before SIGKILL)', mib(S.peakRss.soluteBacklogHolder)],
    ['solute restarted, at first /readyz 200 (after recovery)', mib(processorRun.restartedMemAtReady?.hwm)],
    ['solute restarted, after draining', mib(S.peakRss.soluteRestartedProcessor)],
  ]);
  const cpuRows = (mode) =>
    ['baseline', 'solute'].map((who) => {
      const ps = pick(who, mode);
      const other = who === 'baseline' ? 'solute' : 'baseline';
      return [
        `${who} ${mode}`,
        `${median(ps.map((p) => p.serverCpuPercent)).toFixed(0)}%`,
        `${median(ps.map((p) => p.serverMainThreadCpuPercent)).toFixed(0)}%`,
        `${median(ps.map((p) => p.loadgenCpuPercent)).toFixed(0)}%`,
        `${median(ps.map((p) => p.otherServerCpuPercent[other])).toFixed(0)}%`,
        `${median(ps.map((p) => p.foreignCpuPercent)).toFixed(0)}%`,
        `${median(ps.map((p) => p.machineBusyPercent)).toFixed(0)}%`,
      ];
    });
  table('CPU during the load phases (medians; 100% = one core, except machine busy: 100% = all cores)', ['', 'server under load', 'its main thread', 'load generator', 'other server (idle)', 'not this benchmark', 'machine busy'], [...cpuRows('full'), ...cpuRows('half'), ...(PACED ? cpuRows('paced') : [])]);
  log(`solute totals (server counters, load phases): accepted ${fmtInt(totals.accepted)}, stored ${fmtInt(totals.stored)}, duplicates ${totals.duplicates}, rejected ${totals.rejected}, dead letters ${totals.deadLetters}`);
  log(
    `solute memory after the load phases: RSS ${mib(totals.rssBytes)} (peak ${mib(soluteMem.hwm)}), V8 heap ${mib(totals.heapUsedBytes)} used of ${mib(totals.heapTotalBytes)}, ` +
      `external ${mib(totals.externalBytes)}, dedupe index ${mib(totals.dedupeIndexBytes)}; the rest is native (DuckDB, SOLUTE_STORE_MEMORY_LIMIT default 256MB)`,
  );
  const foreign = median(measured.map((p) => p.foreignCpuPercent));
  if (foreign > 20) {
    log(
      `NOTE: the machine was shared: processes outside this benchmark used a median ${foreign.toFixed(0)}% of a core during the load phases ` +
        `(per phase in the JSON, foreignCpuPercent); Solute, which needs more than one core, suffers more from that than the baseline.`,
    );
  }
  S.foreignCpuPercentMedian = foreign;
  log(anomalies.length ? `ANOMALIES:\n  - ${anomalies.join('\n  - ')}` : 'anomalies: none (every answer was 200 with processed=100, duplicates=0; stored = accepted)');
  log();
  return S;
}

await main()
  .then(async () => {
    if (MODE !== 'all') return; // `overload` and `event-path` run only their own part
    if (process.env.BENCH_QUERIES !== '0') await queryBench();
    if (process.env.BENCH_CLUSTER !== '0') {
      await r1Bench();
      await drainBench();
      await clusterBench();
    }
  })
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
