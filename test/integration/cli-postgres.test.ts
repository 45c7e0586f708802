// bin/solute keys|origins|limits with SOLUTE_STORE=postgres://...: the same output, byte for byte, as
// with the embedded store, the keys in PostgreSQL (hashed), and a server instance on "another
// machine" (another process's PgMetaStore) seeing them. Real PostgreSQL in this file's own schema.
import { spawnSync } from 'node:child_process';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { hashKey } from '../../src/auth/api-key.js';
import { PgMetaStore } from '../../src/store/postgres/pg.meta.js';
import { dropSchema, requirePostgres, testSchema } from '../helpers/services.js';
import { BIN, tempDir } from '../helpers/solute.js';
import { timeUntil } from '../contracts/key-store.contract.js';

const url = await requirePostgres();
const schema = testSchema('cli_pg');

/** The store URL as a user would give it, with the schema chosen through search_path. */
function storeUrl(base: string, s: string): string {
  const u = new URL(base);
  u.searchParams.set('options', `-c search_path=${s}`);
  return u.toString();
}

function run(env: Record<string, string>, ...args: string[]) {
  const r = spawnSync(BIN, args, { env: { ...process.env, ...env }, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe.skipIf(!url)('bin/solute keys|origins|limits on PostgreSQL', () => {
  const pgEnv = () => ({ SOLUTE_STORE: storeUrl(url!, schema), SOLUTE_DATA_DIR: tempDir() });
  afterAll(async () => {
    if (url) await dropSchema(url, schema);
  });

  it('prints what the embedded store prints, for the same commands', () => {
    const sqliteEnv = { SOLUTE_DATA_DIR: tempDir() };
    const env = pgEnv();
    const script: string[][] = [
      ['origins', 'set', '--project', 'shop', 'https://a.example', 'http://localhost:3000/'],
      ['origins', 'set', '--project', 'Blog', 'https://blog.example'],
      ['origins', 'list'],
      ['origins', 'clear', '--project', 'Blog'],
      ['origins', 'list'],
      ['limits', 'set', '--project', 'shop', '--events-per-second', '50'],
      ['limits', 'set', '--project', 'Big', '--events-per-second', '500', '--burst', '2000'],
      ['limits', 'list'],
      ['limits', 'clear', '--project', 'Big'],
      ['limits', 'list'],
      ['keys', 'revoke', 'wk_nothinglikeit'],
      ['keys', 'revoke', 'wk'],
      ['keys', 'create'],
      ['limits', 'nope'],
    ];
    for (const args of script) {
      const a = run(sqliteEnv, ...args);
      const b = run(env, ...args);
      expect(b, args.join(' ')).toEqual(a);
    }
    // Keys differ by nature; their shapes do not.
    const k = run(env, 'keys', 'create', '--project', 'shop', '--secret');
    expect(k.stdout).toMatch(/^sk_[0-9A-Za-z]{32}\n$/);
    const revoked = run(env, 'keys', 'revoke', k.stdout.trim().slice(0, 11));
    expect(revoked.stdout).toBe(`revoked ${k.stdout.slice(0, 11)} (secret key of project shop)\n`);
    const list = run(env, 'keys', 'list').stdout.split('\n');
    expect(list[0]).toBe('PREFIX\tPROJECT\tKIND\tCREATED\tREVOKED');
    expect(list[1]).toMatch(new RegExp(`^${k.stdout.slice(0, 11)}\tshop\tsecret\t\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z\t\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z$`));
   }, 180_000); // 32 CLI processes one after another: ~1 s each here, ~2 s on a loaded machine

  it('stores the keys in PostgreSQL, hashed, where a running server sees them within milliseconds', async () => {
    const pool = new pg.Pool({ connectionString: url! });
    const server = await PgMetaStore.open(pool, { schema });
    await server.watch(60_000); // notifications only
    try {
      const env = pgEnv();
      const created = run(env, 'keys', 'create', '--project', 'multi');
      expect(created.code).toBe(0);
      const key = created.stdout.trim();
      await timeUntil(() => server.resolve(key)?.project === 'multi', 2000);
      const { rows } = await pool.query(`SELECT t::text AS t, hash FROM "${schema}".api_keys t WHERE project = 'multi'`);
      expect(rows).toHaveLength(1);
      expect(rows[0].t).not.toContain(key.slice(3));
      expect(rows[0].hash).toEqual(hashKey(key));

      expect(run(env, 'keys', 'revoke', key).code).toBe(0);
      await timeUntil(() => server.resolve(key) === null, 2000);
    } finally {
      await server.close();
      await pool.end();
    }
  });

  it('says so, with exit code 1, when PostgreSQL cannot be reached', () => {
    const r = run({ SOLUTE_STORE: 'postgres://postgres@127.0.0.1:1/none', SOLUTE_DATA_DIR: tempDir() }, 'keys', 'list');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^solute: cannot open the key store in PostgreSQL \(SOLUTE_STORE\): /);
  });
  it('seed writes the synthetic events into PostgreSQL, in arrival order, with profiles; the stats read them', async () => {
    const env = pgEnv();
    const r = run(env, 'seed', '--events', '3000', '--users', '200', '--project', 'seeded', '--days', '7');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^seeded 3000 events of 200 users \(\d+ identified\) over 7 days into project seeded \(PostgreSQL, schema solute_cli_pg_\w+\) in [\d.]+ s\n$/);
    const c = new pg.Client({ connectionString: url!, options: `-c search_path=${schema}` });
    await c.connect();
    try {
      const events = await c.query("SELECT count(*)::int AS n, count(DISTINCT message_id)::int AS m, min(ts)::float8 AS lo, max(ts)::float8 AS hi FROM events WHERE project = 'seeded'");
      expect(events.rows[0]).toMatchObject({ n: 3000, m: 3000 });
      expect(events.rows[0].hi - events.rows[0].lo).toBeLessThanOrEqual(7 * 86_400_000);
      // Arrival order: timestamps follow seq but for the few late events.
      const late = await c.query("SELECT count(*)::int AS n FROM (SELECT ts < lag(ts) OVER (ORDER BY seq) AS back FROM events WHERE project = 'seeded') x WHERE back");
      expect(late.rows[0].n).toBeGreaterThan(0);
      expect(late.rows[0].n).toBeLessThan(300);
      const profiles = await c.query("SELECT count(*)::int AS n, min(id_count)::int AS ids FROM profiles WHERE project = 'seeded'");
      expect(profiles.rows[0].n).toBeGreaterThan(50);
      expect(profiles.rows[0].ids).toBe(2); // the userId and the device's anonymousId
      // Valid JSON bodies the stats read: page views by path.
      const pages = await c.query("SELECT count(*)::int AS n FROM events WHERE project = 'seeded' AND type = 'page' AND json_typeof(body->'context'->'page'->'path') = 'string'");
      expect(pages.rows[0].n).toBeGreaterThan(100);
    } finally {
      await c.end();
    }
  });
});
