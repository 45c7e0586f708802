// How the PostgreSQL store inserts a batch of events: `npm run build && node bench/pg-insert.mjs`.
// Compares one INSERT ... SELECT FROM unnest(9 arrays) (what pg.store.ts uses) with multi-row
// INSERT ... VALUES ($1..$9000) chunks of 1000, both ON CONFLICT DO NOTHING, for 1000 and 10000
// rows of ~700 B, into the store's events table in a throwaway schema. (COPY would need the
// pg-copy-streams package, which the project does not have.)
import crypto from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { PgStore } from '../dist/store/postgres/pg.store.js';

const url = process.env.SOLUTE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `solute_bench_${crypto.randomBytes(4).toString('hex')}`;
await (await PgStore.open(url, { schema })).close();
const c = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
await c.connect();
let seq = 0;
const row = () => {
  const s = ++seq;
  const m = crypto.randomUUID();
  const body = JSON.stringify({ type: 'track', event: `Event ${s % 40}`, userId: `user-${s % 5000}`, messageId: m, properties: { path: `/p/${s}`, price: 9.99, x: 'y'.repeat(300) }, context: { ip: '203.0.113.0', userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36' } });
  return ['bench', m, s, 1_700_000_000_000 + s, 'track', `Event ${s % 40}`, `user-${s % 5000}`, null, body];
};
async function unnest(rows) {
  const cols = Array.from({ length: 9 }, (_, i) => rows.map((r) => r[i]));
  for (let i = 0; i < rows.length; i += 1000) {
    await c.query(`INSERT INTO events (project, message_id, seq, ts, type, event, user_id, anonymous_id, body)
      SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[], $9::json[]) ON CONFLICT (project, message_id) DO NOTHING`, cols.map((col) => col.slice(i, i + 1000)));
  }
}
async function values(rows) {
  for (let i = 0; i < rows.length; i += 1000) {
    const chunk = rows.slice(i, i + 1000);
    const ph = chunk.map((_, r) => `(${Array.from({ length: 9 }, (_, k) => `$${r * 9 + k + 1}${k === 8 ? '::json' : ''}`).join(',')})`).join(',');
    await c.query(`INSERT INTO events (project, message_id, seq, ts, type, event, user_id, anonymous_id, body) VALUES ${ph} ON CONFLICT (project, message_id) DO NOTHING`, chunk.flat());
  }
}
for (const n of [1000, 10000]) {
  const res = { unnest: [], values: [] };
  for (let rep = 0; rep < 4; rep++) {
    for (const [name, fn] of Object.entries({ unnest, values })) {
      const rows = Array.from({ length: n }, row);
      await c.query('BEGIN');
      const t = performance.now();
      await fn(rows);
      await c.query('COMMIT');
      res[name].push(performance.now() - t);
    }
  }
  for (const [name, ts] of Object.entries(res)) {
    const med = ts.sort((a, b) => a - b)[Math.floor(ts.length / 2)];
    console.log(`${n} rows, ${name}: median ${med.toFixed(1)} ms (${Math.round(n / (med / 1000))} rows/s)`);
  }
}
await c.query(`DROP SCHEMA ${schema} CASCADE`);
await c.end();
