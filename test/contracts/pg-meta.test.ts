// The key store contract against PostgreSQL (PgMetaStore), plus what only it has: the LISTEN/NOTIFY
// freshness (its measured delay), the periodic reload when a notification is lost, the LISTEN
// connection's reconnection, and a concurrent idempotent migration. Real PostgreSQL, own schema.
import Database from 'better-sqlite3';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { displayPrefix, generateKey, hashKey } from '../../src/auth/api-key.js';
import { PgMetaStore, type PgMetaLogger } from '../../src/store/postgres/pg.meta.js';
import { MetaStore } from '../../src/store/sqlite/meta.store.js';
import { dropSchema, requirePostgres, testSchema } from '../helpers/services.js';
import { tempDir } from '../helpers/solute.js';
import { keyStoreContract, timeUntil, type KeyStoreInstance } from './key-store.contract.js';

const url = await requirePostgres();
const schema = testSchema('pg_meta');

/** What a store logged, for the tests that expect it to say something. */
function recorder(): PgMetaLogger & { lines: Array<{ level: string; msg: string }> } {
  const lines: Array<{ level: string; msg: string }> = [];
  return { lines, info: (_o, msg) => void lines.push({ level: 'info', msg }), warn: (_o, msg) => void lines.push({ level: 'warn', msg }) };
}

/** One instance = its own pool, as another process would have. */
async function openStore(options: { watchMs?: number; logger?: PgMetaLogger; schema?: string } = {}): Promise<{ store: PgMetaStore } & KeyStoreInstance> {
  const pool = new pg.Pool({ connectionString: url!, max: 3 });
  const store = await PgMetaStore.open(pool, { schema: options.schema ?? schema, logger: options.logger });
  if (options.watchMs !== undefined) await store.watch(options.watchMs);
  return { store, resolver: store, admin: store, close: () => store.close().finally(() => pool.end()) };
}

describe.skipIf(!url)('PostgreSQL key store', () => {
  let admin: pg.Client;
  beforeAll(async () => {
    admin = new pg.Client({ connectionString: url! });
    await admin.connect();
    await (await openStore()).close(); // creates the schema and tables
  });
  afterAll(async () => {
    await admin?.end();
    if (url) await dropSchema(url, schema);
  });

  keyStoreContract('PostgreSQL (PgMetaStore)', {
    async reset() {
      await admin.query(`TRUNCATE "${schema}".api_keys, "${schema}".projects`);
    },
    openServer: (keyRefreshMs) => openStore({ watchMs: keyRefreshMs }),
    openCli: () => openStore(),
    async atRest() {
      // Every value of every row, as PostgreSQL returns it (bytea as bytes), and as text.
      const parts: Buffer[] = [];
      for (const table of ['api_keys', 'projects']) {
        const { rows } = await admin.query(`SELECT * FROM "${schema}".${table}`);
        for (const row of rows) for (const v of Object.values(row)) parts.push(Buffer.isBuffer(v) ? v : Buffer.from(String(v)));
        const text = await admin.query(`SELECT t::text AS t FROM "${schema}".${table} t`);
        for (const r of text.rows) parts.push(Buffer.from(r.t as string));
      }
      return Buffer.concat(parts);
    },
  });

  describe('freshness', () => {
    it('a key created or revoked elsewhere works or stops within milliseconds, by notification alone', async () => {
      // keyRefreshMs of a minute: only the notification can explain a change seen sooner.
      const server = await openStore({ watchMs: 60_000 });
      const cli = await openStore();
      try {
        const seen: number[] = [];
        for (let i = 0; i < 20; i++) {
          const key = await cli.admin.createKey('shop', 'write');
          seen.push(await timeUntil(() => server.resolver.resolve(key) !== null, 2000));
          await cli.admin.revokeKey(key);
          seen.push(await timeUntil(() => server.resolver.resolve(key) === null, 2000));
        }
        seen.sort((a, b) => a - b);
        // Logged for the record (ARCHITECTURE.md quotes it); the assertion is the 2 s above, far below 60 s.
        process.stderr.write(`pg-meta: change seen by another instance after ${seen[seen.length >> 1].toFixed(1)} ms (median), ${seen[seen.length - 1].toFixed(1)} ms (max) of 40\n`);
      } finally {
        await cli.close();
        await server.close();
      }
    });

    it('a change whose notification is lost is seen by the periodic reload, within keyRefreshMs', async () => {
      const server = await openStore({ watchMs: 200 });
      try {
        const key = generateKey('write');
        // Written behind the store's back: no pg_notify, as when a notification is lost.
        await admin.query(`INSERT INTO "${schema}".api_keys (hash, project, kind, prefix, created_at) VALUES ($1, 'lost', 'write', $2, $3)`, [
          hashKey(key),
          displayPrefix(key),
          new Date().toISOString(),
        ]);
        // No notification: only the reload every 200 ms can bring it (and a reload broken would never).
        await timeUntil(() => server.resolver.resolve(key) !== null, 200 + 1000);
      } finally {
        await server.close();
      }
    });

    /** The pids of this file's stores' LISTEN connections now open (other test files, running at once, have their own schemas). */
    const listenerPids = async () =>
      new Set((await admin.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [`solute-keys-listen:${schema}`.slice(0, 63)])).rows.map((r) => r.pid));

    /** Opens a watching store and finds its LISTEN connection's pid (the one that appeared). */
    async function watchingStore(logger?: PgMetaLogger) {
      const before = await listenerPids();
      const server = await openStore({ watchMs: 60_000, logger });
      const ours = [...(await listenerPids())].filter((pid) => !before.has(pid));
      expect(ours).toHaveLength(1);
      return { server, pid: ours[0] };
    }

    it('reconnects a dropped LISTEN connection with backoff, says so, and notifications work again', async () => {
      const log = recorder();
      const { server, pid } = await watchingStore(log);
      const cli = await openStore();
      try {
        await admin.query('SELECT pg_terminate_backend($1)', [pid]);
        await timeUntil(() => log.lines.some((l) => l.level === 'info' && /back/.test(l.msg)), 10_000);
        expect(log.lines[0]).toMatchObject({ level: 'warn', msg: expect.stringMatching(/LISTEN connection dropped/) });
        expect(await listenerPids()).not.toContain(pid);

        const key = await cli.admin.createKey('shop', 'write');
        await timeUntil(() => server.resolver.resolve(key) !== null, 2000);
      } finally {
        await cli.close();
        await server.close();
      }
    });

    it('closes its LISTEN connection when closed', async () => {
      const { server, pid } = await watchingStore();
      await server.close();
      // pg_stat_activity lags the disconnect a little.
      const deadline = Date.now() + 5000;
      while ((await listenerPids()).has(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(await listenerPids()).not.toContain(pid);
    });
  });

  describe('migration', () => {
    it('creates its schema and tables once when several processes start at once, with the SQLite store\'s columns', async () => {
      const fresh = testSchema('pg_meta_mig');
      try {
        const stores = await Promise.all([1, 2, 3, 4].map(() => openStore({ schema: fresh })));
        const key = await stores[0].admin.createKey('p', 'write');
        for (const s of stores) expect((await s.admin.listKeys()).map((k) => k.prefix)).toEqual([key.slice(0, 11)]);
        await Promise.all(stores.map((s) => s.close()));
        await (await openStore({ schema: fresh })).close(); // and again: nothing to do

        const file = path.join(tempDir('solute-meta-'), 'meta.sqlite');
        new MetaStore(file).close();
        const db = new Database(file, { readonly: true });
        for (const table of ['api_keys', 'projects']) {
          const want = (db.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>).map((c) => c.name);
          const have = (await admin.query('SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position', [fresh, table])).rows.map(
            (r) => r.column_name,
          );
          expect(have, table).toEqual(want);
        }
        db.close();
      } finally {
        await dropSchema(url!, fresh);
      }
    });
  });
});
