// Loading cost of the stores (src/store/duckdb, src/store/postgres): `npm run build && node
// bench/store-load.mjs duckdb|pg [rows] [batch]` loads `rows` track events of ~700 B (default
// 100000) in batches of `batch` lines (default 1000) through commitBatch and prints rows/s.
// pg uses SOLUTE_TEST_PG_URL (default postgres://postgres@127.0.0.1:5432/test) in a throwaway schema.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { BATCH_STEPS } from '../dist/process/pipeline.js';

const [kind = 'duckdb', rowsArg = '100000', batchArg = '1000'] = process.argv.slice(2);
const ROWS = Number(rowsArg);
const BATCH = Number(batchArg);
const T0 = Date.UTC(2026, 0, 1);

function line(s) {
  const m = crypto.randomUUID();
  const u = `user-${s % 5000}`;
  const t = T0 + s * 100;
  const e = {
    type: 'track', event: `Event ${s % 40}`, userId: u, messageId: m, timestamp: new Date(t).toISOString(),
    properties: { path: `/products/${s % 997}`, price: (s % 100) + 0.99, currency: 'EUR', category: 'shoes', variant: `v-${s % 7}` },
    context: { ip: '203.0.113.0', locale: 'en-US', library: { name: 'analytics.js', version: '4.1.0' },
      page: { url: `https://shop.example.com/products/${s % 997}?ref=home`, referrer: 'https://www.example.org/' },
      userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36' },
    receivedAt: new Date(t).toISOString(), sentAt: new Date(t).toISOString(), originalTimestamp: new Date(t).toISOString(),
  };
  return { p: 'bench', s, t, y: 'track', n: e.event, u, a: null, m, i: null, e };
}

let store;
let cleanup = async () => undefined;
if (kind === 'pg') {
  const { PgStore } = await import('../dist/store/postgres/pg.store.js');
  const url = process.env.SOLUTE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const schema = `solute_bench_${crypto.randomBytes(4).toString('hex')}`;
  store = await PgStore.open(url, { schema });
  cleanup = async () => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query(`DROP SCHEMA ${schema} CASCADE`);
    await c.end();
  };
} else {
  const { DuckDbStore } = await import('../dist/store/duckdb/duckdb.store.js');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'solute-bench-'));
  store = await DuckDbStore.open(path.join(dir, 'store.duckdb'), { memoryLimit: '512MB', threads: 2 });
  cleanup = async () => fs.rmSync(dir, { recursive: true, force: true });
}

let seq = 0;
let bytes = 0;
let spent = 0;
const lastTenth = [];
for (let segment = 1; seq < ROWS; segment++) {
  const lines = [];
  for (let i = 0; i < BATCH && seq < ROWS; i++) {
    const l = line(++seq);
    const raw = JSON.stringify(l);
    bytes += raw.length;
    lines.push({ index: i, raw, line: l });
  }
  const t = performance.now();
  const r = await store.commitBatch({ segment, lines, deadLetters: [] }, BATCH_STEPS);
  const ms = performance.now() - t;
  spent += ms;
  if (seq > ROWS * 0.9) lastTenth.push(ms / lines.length);
  if (r.stored !== lines.length) throw new Error(`stored ${r.stored} of ${lines.length}`);
}
const lastRate = 1000 / (lastTenth.reduce((a, b) => a + b, 0) / lastTenth.length);
console.log(`${kind}: ${ROWS} rows (${Math.round(bytes / ROWS)} B/line) in batches of ${BATCH}: ${(spent / 1000).toFixed(2)} s, ${Math.round(ROWS / (spent / 1000))} rows/s overall, ${Math.round(lastRate)} rows/s over the last 10%`);
await store.close();
await cleanup();
