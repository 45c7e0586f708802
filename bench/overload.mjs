// Overload scenario of `npm run bench` (issue 4), also runnable alone: `node bench/run.mjs overload`.
//
// One Solute server with a small SOLUTE_BACKLOG_MAX_EVENTS (so the backlog bound engages) and two
// projects: `bench` without a rate limit, and `limited` with one (so the rate limit engages too).
// autocannon offers as much load as it can for OVERLOAD_SECONDS: a closed loop on OVERLOAD_CONNECTIONS
// connections, each answer followed at once by the next request, 100-event batches with a unique
// messageId per event (1 request in 4 to `limited`). The generator runs in this process, on the same
// 2 cores as the server, so "as much as it can" is bounded by the machine, not by the server alone.
//
// It prints and checks:
//   - answers by status: 200, 429 and 503 are expected; anything else, a socket error or a timeout is a failure;
//   - p50/p99 of all answers (target p99 < 100 ms);
//   - RSS every 2 s, and its growth from the moment the limits engaged (the first 429/503) to the end,
//     minus what the dedupe index took for the keys added meanwhile (ARCHITECTURE.md: up to 48 B a key);
//   - acknowledged against stored: after the drain the server is stopped and its DuckDB file opened;
//     every event of every 200 must be there once, and nothing of a refused request at all.
// Exit code 1 (through process.exitCode) when an event is lost or doubled, a refused event was stored,
// or an answer other than 200/429/503 came back.
import autocannon from 'autocannon';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';

/** The index's documented upper bound per key (ARCHITECTURE.md, "The dedupe index"): 18 B a slot at 37.5% load. */
const DEDUPE_BYTES_PER_KEY = 48;
const SAMPLE_MS = 2000;
/** Every 4th request goes to the rate-limited project. */
const LIMITED_EVERY = 4;

/**
 * @param t the helpers of bench/run.mjs (processes, metrics, formatting), so that both share one implementation.
 */
export async function runOverload(t) {
  const seconds = t.envInt('OVERLOAD_SECONDS', 30);
  const connections = t.envInt('OVERLOAD_CONNECTIONS', 32);
  const backlogMax = t.envInt('OVERLOAD_BACKLOG_MAX_EVENTS', 10_000);
  const limitedEps = t.envInt('OVERLOAD_LIMITED_EVENTS_PER_SECOND', 500);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'solute-overload-'));
  const env = { SOLUTE_DATA_DIR: dataDir, SOLUTE_LOG_LEVEL: 'warn' };
  const cliRun = (...args) => execFileSync(t.BIN, args, { env: { ...process.env, ...env }, encoding: 'utf8' }).trim();
  const keys = { bench: cliRun('keys', 'create', '--project', 'bench'), limited: cliRun('keys', 'create', '--project', 'limited') };
  cliRun('limits', 'set', '--project', 'limited', '--events-per-second', String(limitedEps));

  t.log(
    `overload: ${seconds} s closed loop on ${connections} connections (as fast as the server answers; the load generator shares the 2 cores), ` +
      `${t.BATCH}-event batches, SOLUTE_BACKLOG_MAX_EVENTS=${backlogMax}, project "limited" (1 request in ${LIMITED_EVERY}) at ${t.fmtInt(limitedEps)} events/s`,
  );
  const server = await t.startSolute(dataDir, keys.bench, { SOLUTE_BACKLOG_MAX_EVENTS: String(backlogMax) });
  const result = { config: { seconds, connections, backlogMax, limitedEps, batch: t.BATCH }, failures: [] };
  try {
    // Per request counter n: the project it went to (1: limited) and its answer (0: none, else the status).
    const sentTo = new Map();
    const answered = new Map();
    const statuses = {};
    /** Error codes of the refusals, e.g. "503 SOL_ERR_BACKLOG_FULL". */
    const codes = {};
    const latencies = [];
    const badBodies = [];
    let firstRefusalAt = null;
    let windowCounts = {};

    const rss = [];
    const cpu0 = t.cpuOf(server.pid);
    const machine0 = t.machineCpu();
    const self0 = process.cpuUsage();
    const startedAt = t.now();
    let scraping = false;
    const sample = () => {
      const at = (t.now() - startedAt) / 1000;
      let mem;
      try {
        mem = t.memoryOf(server.pid);
      } catch {
        return; // exited
      }
      const row = { at, rss: mem.rss, answers: windowCounts };
      windowCounts = {};
      rss.push(row);
      if (scraping) return;
      scraping = true;
      t.scrape(server.url)
        .then((m) => Object.assign(row, { dedupeKeys: m.dedupeKeys, dedupeBytes: m.dedupeIndexBytes, backlog: m.backlog, heapUsed: m.heapUsedBytes, external: m.externalBytes }))
        .catch(() => {})
        .finally(() => (scraping = false));
    };
    sample();
    const timer = setInterval(sample, SAMPLE_MS);

    const ac = await new Promise((resolve, reject) => {
      const inst = autocannon(
        {
          url: server.url,
          connections,
          pipelining: 1,
          duration: seconds,
          timeout: 10,
          requests: [
            {
              method: 'POST',
              path: '/api/events',
              headers: { 'content-type': 'application/json', 'x-api-key': keys.bench },
              setupRequest: (req, context) => {
                const { buf, n } = t.nextNumberedBody();
                const limited = n % LIMITED_EVERY === 0;
                context.n = n;
                sentTo.set(n, limited ? 1 : 0);
                req.body = buf;
                req.headers = { ...req.headers, 'x-api-key': limited ? keys.limited : keys.bench };
                return req;
              },
              onResponse: (status, body, context) => {
                answered.set(context.n, status);
                statuses[status] = (statuses[status] ?? 0) + 1;
                windowCounts[status] = (windowCounts[status] ?? 0) + 1;
                if (status !== 200 && firstRefusalAt === null) firstRefusalAt = (t.now() - startedAt) / 1000;
                if (status === 200) {
                  const r = JSON.parse(body);
                  if (r.processed !== t.BATCH || r.duplicates !== 0 || r.failed !== 0) badBodies.push(body.slice(0, 200));
                } else {
                  const code = /"code":"([A-Z_]+)"/.exec(body)?.[1] ?? '?';
                  codes[`${status} ${code}`] = (codes[`${status} ${code}`] ?? 0) + 1;
                  if (status !== 429 && status !== 503 && badBodies.length < 5) badBodies.push(`${status} ${String(body).slice(0, 200)}`);
                }
              },
            },
          ],
        },
        (err, res) => (err ? reject(err) : resolve(res)),
      );
      inst.on('response', (_client, _status, _bytes, ms) => latencies.push(ms));
    });
    const endedAt = t.now();
    clearInterval(timer);
    sample();
    const wall = (endedAt - startedAt) / 1000;
    const serverCpu = (100 * (t.cpuOf(server.pid) - cpu0)) / wall;
    const selfCpu = process.cpuUsage(self0);
    const loadgenCpu = (100 * (selfCpu.user + selfCpu.system)) / 1e6 / wall;
    const machine1 = t.machineCpu();
    const machineBusy = (100 * (machine1.busy - machine0.busy)) / (machine1.total - machine0.total);
    // CPU of processes outside this benchmark, in % of one core: the machine may be shared.
    const foreignCpu = Math.max(0, (machineBusy * os.cpus().length) - serverCpu - loadgenCpu);
    latencies.sort((a, b) => a - b);

    // Drain what was acknowledged, then stop the server (SIGTERM: it stores what is pending) and count in its store.
    const drained = await t.waitDrained(server);
    const peak = t.memoryOf(server.pid).hwm;
    await t.stop(server);
    const stored = await countStored(path.join(dataDir, 'store', 'events.duckdb'));

    // Acknowledged against stored, per request.
    let ackRequests = 0;
    let ackEvents = 0;
    let lost = 0;
    let duplicated = 0;
    let refusedStored = 0;
    let unansweredStored = 0;
    let unanswered = 0;
    let wrongProject = 0;
    let phantom = 0;
    for (const [n, row] of stored.byRequest) {
      duplicated += row.rows - row.distinct;
      if (!sentTo.has(n)) phantom += row.rows;
      else if (row.project !== (sentTo.get(n) === 1 ? 'limited' : 'bench')) wrongProject += row.rows;
    }
    for (const [n] of sentTo) {
      const status = answered.get(n);
      const row = stored.byRequest.get(n);
      if (status === 200) {
        ackRequests++;
        ackEvents += t.BATCH;
        lost += t.BATCH - (row?.distinct ?? 0);
      } else if (status === undefined) {
        unanswered++; // built but not answered before the end (or timed out): outcome unknown, not checked
        if (row) unansweredStored += row.distinct;
      } else if (row) {
        refusedStored += row.rows;
      }
    }

    const engagedAt = firstRefusalAt ?? wall;
    const atEngage = rss.find((s) => s.at >= engagedAt && s.dedupeKeys !== undefined) ?? rss.at(-1);
    const last = [...rss].reverse().find((s) => s.dedupeKeys !== undefined) ?? rss.at(-1);
    const rssGrowth = last.rss - atEngage.rss;
    const keysAdded = (last.dedupeKeys ?? 0) - (atEngage.dedupeKeys ?? 0);
    const indexGrowth = (last.dedupeBytes ?? 0) - (atEngage.dedupeBytes ?? 0);
    const dedupeAllowance = Math.max(keysAdded * DEDUPE_BYTES_PER_KEY, indexGrowth);
    const residual = rssGrowth - dedupeAllowance;
    // Is RSS still climbing once everything is warm? Median of the middle third of the samples against
    // the last third (single samples swing by tens of MiB with GC and DuckDB's buffers).
    const thirds = [rss.slice(Math.floor(rss.length / 3), Math.floor((2 * rss.length) / 3)), rss.slice(Math.floor((2 * rss.length) / 3))];
    const [midRss, lateRss] = thirds.map((xs) => t.median(xs.map((s) => s.rss)));
    const [midKeys, lateKeys] = thirds.map((xs) => t.median(xs.map((s) => s.dedupeKeys ?? NaN)));
    const lateGrowth = lateRss - midRss;
    const lateAllowance = ((lateKeys - midKeys) || 0) * DEDUPE_BYTES_PER_KEY;

    const other = Object.entries(statuses).filter(([s]) => !['200', '429', '503'].includes(s));
    const p = (q) => t.percentile(latencies, q);
    Object.assign(result, {
      seconds: wall,
      requests: ac.requests.total,
      requestsPerSec: ac.requests.total / wall,
      offeredEventsPerSec: (ac.requests.total * t.BATCH) / wall,
      acknowledgedEventsPerSec: ackEvents / wall,
      statuses,
      codes,
      socketErrors: ac.errors,
      timeouts: ac.timeouts,
      latency: { p50: p(50), p90: p(90), p99: p(99), max: latencies.at(-1) ?? NaN, samples: latencies.length },
      limitsEngagedAtSeconds: firstRefusalAt,
      rss: rss.map((s) => ({ at: s.at, rssBytes: s.rss, v8HeapUsedBytes: s.heapUsed, externalBytes: s.external, dedupeKeys: s.dedupeKeys, dedupeIndexBytes: s.dedupeBytes, backlog: s.backlog, answers: s.answers })),
      memory: { peakBytes: peak, rssGrowthAfterEngageBytes: rssGrowth, dedupeKeysAdded: keysAdded, dedupeIndexGrowthBytes: indexGrowth, dedupeAllowanceBytes: dedupeAllowance, residualGrowthBytes: residual, lastThirdMinusMiddleThirdMedianBytes: lateGrowth, lastThirdMinusMiddleThirdBeyondDedupeBytes: lateGrowth - lateAllowance },
      cpu: { serverPercent: serverCpu, loadgenPercent: loadgenCpu, foreignPercent: foreignCpu, machineBusyPercent: machineBusy },
      store: { ackRequests, ackEvents, storedEvents: stored.total, deadLetters: stored.deadLetters, lost, duplicated, refusedStored, wrongProject, phantom, unanswered, unansweredStored },
      drainSeconds: (drained.at - endedAt) / 1000,
      badBodies,
    });

    // The printout.
    t.log(
      `  offered ${t.fmtInt(result.requestsPerSec)} req/s = ${t.fmtInt(result.offeredEventsPerSec)} events/s (the processor alone does ~125k/s: see the processor figure); ` +
        `acknowledged ${t.fmtInt(result.acknowledgedEventsPerSec)} events/s; cpu: server ${serverCpu.toFixed(0)}%, load generator ${loadgenCpu.toFixed(0)}%, ` +
        `processes outside the benchmark ${foreignCpu.toFixed(0)}% (100% = one core; machine ${machineBusy.toFixed(0)}% busy)`,
    );
    t.table('overload: answers', ['status', 'answers', 'share'], [
      ...Object.entries(statuses).map(([s, c]) => [s, t.fmtInt(c), `${((100 * c) / ac.requests.total).toFixed(1)}%`]),
      ...Object.entries(codes).map(([k, c]) => [`  ${k}`, t.fmtInt(c), '']),
      ['socket errors / timeouts', `${ac.errors} / ${ac.timeouts}`, ''],
    ]);
    t.log(
      `  latency of all answers: p50 ${t.fmtMs(p(50))} ms, p90 ${t.fmtMs(p(90))} ms, p99 ${t.fmtMs(p(99))} ms (target < 100 ms: ${p(99) < 100 ? 'met' : 'NOT met'}), max ${t.fmtMs(result.latency.max)} ms`,
    );
    t.log(`  limits engaged (first 429/503) at ${firstRefusalAt === null ? 'never' : `${firstRefusalAt.toFixed(1)} s`}`);
    t.table(
      `overload: memory every ${SAMPLE_MS / 1000} s (RSS from /proc, the rest from /metrics; RSS minus V8 heap and external is native: DuckDB, bounded by SOLUTE_STORE_MEMORY_LIMIT)`,
      ['t (s)', 'RSS', 'V8 heap used', 'external', 'dedupe keys', 'dedupe index', 'backlog', 'answers in the window'],
      rss.map((s) => [
        s.at.toFixed(1),
        t.mib(s.rss),
        s.heapUsed === undefined ? '' : t.mib(s.heapUsed),
        s.external === undefined ? '' : t.mib(s.external),
        s.dedupeKeys === undefined ? '' : t.fmtInt(s.dedupeKeys),
        s.dedupeBytes === undefined ? '' : t.mib(s.dedupeBytes),
        s.backlog === undefined ? '' : t.fmtInt(s.backlog),
        Object.entries(s.answers).map(([k, v]) => `${k}:${v}`).join(' '),
      ]),
    );
    t.log(
      `  RSS from the sample at ${atEngage.at.toFixed(1)} s (limits engaged) to the last: ${signedMib(rssGrowth)}; dedupe keys added ${t.fmtInt(keysAdded)} ` +
        `(× ${DEDUPE_BYTES_PER_KEY} B = ${signedMib(keysAdded * DEDUPE_BYTES_PER_KEY)}, index measured ${signedMib(indexGrowth)}); growth beyond the dedupe index ${signedMib(residual)}; peak RSS ${t.mib(peak)}`,
    );
    t.log(
      `  median RSS of the last third of the samples against the middle third: ${signedMib(lateGrowth)} (${t.mib(midRss)} → ${t.mib(lateRss)}), ` +
        `beyond the dedupe keys added meanwhile × ${DEDUPE_BYTES_PER_KEY} B: ${signedMib(lateGrowth - lateAllowance)}`,
    );
    t.log(
      `  acknowledged ${t.fmtInt(ackEvents)} events (${t.fmtInt(ackRequests)} requests), stored ${t.fmtInt(stored.total)} (dead letters ${stored.deadLetters}); ` +
        `lost ${lost}, duplicated ${duplicated}, refused but stored ${refusedStored}, in the wrong project ${wrongProject}, never sent ${phantom}; ` +
        `${unanswered} requests without an answer at the end (outcome unknown; ${unansweredStored} of their events stored); drained ${result.drainSeconds.toFixed(1)} s after the load stopped`,
    );

    if (other.length) result.failures.push(`answers other than 200/429/503: ${JSON.stringify(Object.fromEntries(other))}; e.g. ${badBodies.join(' | ')}`);
    if (ac.errors || ac.timeouts) result.failures.push(`socket errors ${ac.errors}, timeouts ${ac.timeouts}`);
    if (badBodies.length && !other.length) result.failures.push(`200 answers not processed=${t.BATCH}, duplicates=0, failed=0: ${badBodies.slice(0, 3).join(' | ')}`);
    if (lost) result.failures.push(`${lost} acknowledged events not stored`);
    if (duplicated) result.failures.push(`${duplicated} events stored more than once`);
    if (refusedStored) result.failures.push(`${refusedStored} events of refused requests stored`);
    if (wrongProject || phantom) result.failures.push(`${wrongProject} events in the wrong project, ${phantom} never sent`);
    if (stored.deadLetters) result.failures.push(`${stored.deadLetters} dead letters`);
    t.log(result.failures.length ? `OVERLOAD FAILURES:\n  - ${result.failures.join('\n  - ')}` : 'overload: no failure (only 200/429/503; every acknowledged event stored once; nothing refused stored)');
    t.log();
    return result;
  } finally {
    await t.stop(server);
    if (process.env.BENCH_KEEP !== '1') fs.rmSync(dataDir, { recursive: true, force: true });
    else t.log(`overload data dir kept: ${dataDir}`);
  }
}

function signedMib(bytes) {
  return `${bytes >= 0 ? '+' : '-'}${(Math.abs(bytes) / 1024 / 1024).toFixed(1)} MiB`;
}

/** Rows per request counter (the middle part of `<run>-<n>-<i>`) in the stopped server's store. */
async function countStored(file) {
  const db = await DuckDBInstance.create(file, { access_mode: 'READ_ONLY' });
  const conn = await db.connect();
  try {
    const rows = (
      await conn.runAndReadAll(
        `SELECT project, CAST(split_part(message_id, '-', 2) AS INTEGER) AS n, CAST(count(*) AS INTEGER) AS rows, CAST(count(DISTINCT message_id) AS INTEGER) AS d
         FROM events GROUP BY ALL`,
      )
    ).getRowsJS();
    const byRequest = new Map();
    let total = 0;
    for (const [project, n, count, distinct] of rows) {
      const prev = byRequest.get(n);
      // Should never be split over projects; if it is, the first project found is kept and the rest count as wrong.
      if (prev) Object.assign(prev, { rows: prev.rows + count, distinct: prev.distinct + distinct, project: 'split' });
      else byRequest.set(n, { project, rows: count, distinct });
      total += count;
    }
    const dead = (await conn.runAndReadAll('SELECT CAST(count(*) AS INTEGER) FROM dead_letters')).getRowsJS()[0][0];
    return { byRequest, total, deadLetters: dead };
  } finally {
    conn.closeSync?.();
    db.closeSync?.();
  }
}
