// The enrich step's cost per event (src/process/steps/enrich.ts), with and without its UA cache:
// `npm run build && node bench/enrich.mjs` (about 8 s; ENRICH_ROUNDS rounds, default 5, of ENRICH_MS per
// case and variant, default 150).
//
// Events are realistic track events (context with page, library, locale and a userAgent) parsed fresh
// from JSON for each pass, as the processor parses log lines. Cases:
//   - 40 distinct browser UAs (real traffic has few), cache of 1000 vs no cache;
//   - every UA distinct (all misses, the cache's worst case: each miss also evicts);
//   - no userAgent (IP only) as the floor.
// The JSON.parse of the batch is timed apart and subtracted, so the figures are the step alone.
// The step runs with ipMode truncate (the dearer IP path) and a client IP on every event.
import { performance } from 'node:perf_hooks';
import { createEnrich } from '../dist/process/steps/enrich.js';

const MS = Number(process.env.ENRICH_MS ?? 150);
const ROUNDS = Number(process.env.ENRICH_ROUNDS ?? 5);
const BATCH = 2000;

const OS = [
  'Windows NT 10.0; Win64; x64',
  'Macintosh; Intel Mac OS X 10_15_7',
  'X11; Linux x86_64',
  'Linux; Android 14; SM-S918B',
  'Linux; Android 13; Pixel 7',
];
const uas = [];
for (const os of OS) for (let v = 117; v < 125; v++) uas.push(`Mozilla/5.0 (${os}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${v}.0.0.0 ${os.includes('Android') ? 'Mobile ' : ''}Safari/537.36`);
// 40 distinct UAs

function batchJson(uaOf) {
  const events = [];
  for (let i = 0; i < BATCH; i++) {
    const context = {
      library: { name: 'analytics.js', version: '5.2.0' },
      page: { path: '/pricing', url: 'https://example.com/pricing', title: 'Pricing', referrer: 'https://www.google.com/' },
      locale: 'en-US',
      sessionId: 'session_abc',
    };
    const ua = uaOf(i);
    if (ua !== undefined) context.userAgent = ua;
    events.push({ type: 'track', event: 'Plan Viewed', properties: { plan: 'pro' }, userId: 'u' + i, messageId: 'm' + i, context });
  }
  return JSON.stringify(events);
}

/** ns per event of `prepare()` alone, and with `work` on what it returns. */
function once(prepare, work) {
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < MS) {
    const events = prepare();
    if (work !== null) work(events);
    n += events.length;
  }
  return ((performance.now() - t0) * 1e6) / n;
}

let distinct = 0;
const repeated = batchJson((i) => uas[i % uas.length]);
const cases = [
  { name: '40 UAs, cache 1000', json: repeated, cacheSize: 1000 },
  { name: '40 UAs, no cache', json: repeated, cacheSize: 0 },
  { name: 'all UAs distinct, cache 1000', json: repeated, cacheSize: 1000, unique: true },
  { name: 'all UAs distinct, no cache', json: repeated, cacheSize: 0, unique: true },
  { name: 'no userAgent (IP only)', json: batchJson(() => undefined), cacheSize: 1000 },
];
for (const c of cases) {
  c.enrich = createEnrich({ ipMode: 'truncate', uaCacheSize: c.cacheSize });
  // Parsing the JSON (and, for `unique`, making each UA one never seen before) is timed alone too and subtracted.
  c.prepare = () => {
    const events = JSON.parse(c.json);
    if (c.unique) for (const e of events) e.context.userAgent += ' u/' + distinct++;
    return events;
  };
  c.work = (events) => {
    for (const e of events) c.enrich(e, '198.51.100.23');
  };
  c.total = Infinity;
  c.base = Infinity;
}
// Rounds interleave the cases; the fastest of each is kept (the machine is shared: the minimum is the
// run least disturbed by other processes).
for (let round = 0; round < ROUNDS; round++) {
  for (const c of cases) {
    c.base = Math.min(c.base, once(c.prepare, null));
    c.total = Math.min(c.total, once(c.prepare, c.work));
  }
}
console.log(`enrich step: ${BATCH}-event batches, ipMode truncate, ${ROUNDS} rounds x ${MS} ms, best of rounds, node ${process.version}`);
console.log('case                            step ns/event   (with step, without)');
for (const c of cases) {
  console.log(`${c.name.padEnd(32)}${(c.total - c.base).toFixed(0).padStart(8)}        (${c.total.toFixed(0)}, ${c.base.toFixed(0)})`);
}
