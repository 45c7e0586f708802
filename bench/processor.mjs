// Processor alone (issue 10, figure 5): a backlog of N events in default-size log segments, written in
// the log format the edge writes (contracts/log-line.ts) with a realistic mix (5% identify/group/alias,
// a few hundred distinct user agents, ~850 B a line), then `bin/solute serve` started on it and timed
// until every event is stored. Prints events/s from start and from ready, CPU per event (utime+stime of
// the process, all threads), and peak RSS (VmHWM).
//
//   npm run build && node bench/processor.mjs [events=1000000]
//   node bench/processor.mjs 1000000 --bin <an older checkout>/bin/solute --format v1   (the same on an older release)
//
// The log is written directly (not through HTTP), so the figure is the processor's alone.
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './free-port.mjs';
import { cpuOf, memoryOf } from './proc-stats.mjs';

const ROOT = path.resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args.splice(i, 2)[1] : dflt;
};
const BIN = opt('--bin', path.join(ROOT, 'bin', 'solute'));
const FORMAT = opt('--format', 'v2');
const KEEP = process.env.BENCH_KEEP === '1';
/** BENCH_STATEFUL=0: no identify/group/alias (to see what the stateful steps cost). */
const STATEFUL = process.env.BENCH_STATEFUL !== '0';
const EVENTS = Number(args[0] ?? 1_000_000);
const SEGMENT_BYTES = 8 * 1024 * 1024; // SOLUTE_SEGMENT_MAX_BYTES' default
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const UAS = Array.from({ length: 300 }, (_, k) =>
  k % 3 === 0
    ? `Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${100 + (k % 31)}.0.${k}.0 Safari/537.36`
    : k % 3 === 1
      ? `Mozilla/5.0 (iPhone; CPU iPhone OS 17_${k % 7} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.${k % 5} Mobile/15E${k} Safari/604.1`
      : `Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_${k % 8}) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/${16 + (k % 3)}.${k % 6} Safari/605.1.15`,
);

/** The n-th event of the mix, as the edge stores it (receivedAt, sentAt, originalTimestamp, corrected timestamp). */
function event(n, t) {
  const iso = new Date(t).toISOString();
  const user = `user-${n % 20_000}`;
  const kind = STATEFUL ? n % 20 : 1 + (n % 19); // 5% stateful: identify, group and alias in turn
  const context = {
    library: { name: 'analytics.js', version: '4.1.0' },
    locale: 'en-US',
    page: { path: `/products/${n % 997}`, url: `https://shop.example.com/products/${n % 997}?ref=home`, referrer: 'https://www.example.org/' },
    userAgent: UAS[n % UAS.length],
  };
  const base = { messageId: crypto.randomUUID(), timestamp: iso, userId: user, context, originalTimestamp: iso, sentAt: iso, receivedAt: iso };
  if (kind === 0) {
    const s = n % 60;
    if (s < 20) return { type: 'identify', ...base, traits: { email: `${user}@example.com`, plan: n % 3 === 0 ? 'pro' : 'free' } };
    if (s < 40) return { type: 'group', ...base, groupId: `org-${n % 500}`, traits: { name: `Org ${n % 500}` } };
    return { type: 'alias', ...base, previousId: `anon-${n}` };
  }
  return { type: kind % 5 === 0 ? 'page' : 'track', ...(kind % 5 === 0 ? { name: 'Product' } : { event: `Event ${n % 40}` }), ...base, properties: { price: (n % 100) + 0.99, currency: 'EUR', category: 'shoes', variant: `v-${n % 7}` } };
}

const { bulkShape, bulkUserAgent, lineHead, lineTail } = await import(path.join(ROOT, 'dist', 'contracts', 'log-line.js'));
function line(e, s, t) {
  const json = JSON.stringify(e);
  if (FORMAT === 'v1') {
    return `{"p":"bench","s":${s},"t":${t},"y":${JSON.stringify(e.type)},"n":${JSON.stringify(e.event ?? null)},"u":${JSON.stringify(e.userId)},"a":null,"m":${JSON.stringify(e.messageId)},"i":"203.0.113.0","e":${json}}\n`;
  }
  const bulk = bulkShape(e);
  return lineHead('bench', bulk) + s + lineTail(e, t, t, '"203.0.113.0"', bulk ? bulkUserAgent(e) : null, false, json);
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'solute-bench-processor-'));
const dataDir = path.join(dir, 'data');
execFileSync(BIN, ['keys', 'create', '--project', 'bench'], { env: { ...process.env, SOLUTE_DATA_DIR: dataDir } });
const logDir = path.join(dataDir, 'log');
fs.mkdirSync(logDir, { recursive: true });
const t0 = Date.now() - EVENTS; // one event a millisecond, ending now (inside the dedupe window)
let segment = 0;
let parts = [];
let bytes = 0;
let total = 0;
const flush = () => {
  fs.writeFileSync(path.join(logDir, `${String(++segment).padStart(12, '0')}.ndjson`), parts.join(''));
  parts = [];
  bytes = 0;
};
for (let n = 1; n <= EVENTS; n++) {
  const l = line(event(n, t0 + n), n, t0 + n);
  if (bytes + l.length > SEGMENT_BYTES) flush();
  parts.push(l);
  bytes += l.length;
  total += l.length;
}
if (parts.length) flush();
console.log(`backlog: ${EVENTS} events in ${segment} segments, ${Math.round(total / EVENTS)} B a line (format ${FORMAT})`);

const port = await freePort();
const started = performance.now();
const proc = spawn(BIN, ['serve', '--port', String(port)], {
  env: { ...process.env, SOLUTE_DATA_DIR: dataDir, SOLUTE_HOST: '127.0.0.1', SOLUTE_LOG_LEVEL: 'warn' },
  stdio: ['ignore', 'ignore', 'inherit'],
});
const url = `http://127.0.0.1:${port}`;
const metric = async (name) => {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
};
let ready = 0;
for (;;) {
  if (proc.exitCode !== null) throw new Error('solute exited');
  try {
    if ((await fetch(`${url}/readyz`)).status === 200) break;
  } catch {}
  await sleep(20);
}
ready = performance.now();
let stored = 0;
while ((stored = await metric('solute_events_stored_total')) + (await metric('solute_dead_letters_total')) < EVENTS) await sleep(50);
const done = performance.now();
const cpu = cpuOf(proc.pid);
const { hwm } = memoryOf(proc.pid);
proc.kill('SIGTERM');
await new Promise((r) => proc.on('exit', r));
const fromStart = (done - started) / 1000;
const fromReady = (done - ready) / 1000;
const result = {
  events: EVENTS,
  stored,
  format: FORMAT,
  secondsFromStart: +fromStart.toFixed(2),
  secondsToReady: +((ready - started) / 1000).toFixed(2),
  eventsPerSecondFromStart: Math.round(EVENTS / fromStart),
  eventsPerSecondFromReady: Math.round(EVENTS / fromReady),
  cpuMicrosPerEvent: +((cpu * 1e6) / EVENTS).toFixed(1),
  peakRssMiB: Math.round(hwm / 1048576),
};
console.log(JSON.stringify(result));
if (!KEEP) fs.rmSync(dir, { recursive: true, force: true });
export default result;
