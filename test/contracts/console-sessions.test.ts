// The console session store contract, run against both adapters: SQLite beside the embedded key
// store, and PostgreSQL beside the shared one. A session is valid while it exists, has not expired,
// and its key is an active secret key; tokens and keys are kept as hashes only. Real storage.
import crypto from 'node:crypto';
import fs from 'node:fs';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { KeyAdmin } from '../../src/contracts/key-store.js';
import type { SessionStore } from '../../src/contracts/console.js';
import { hashKey } from '../../src/auth/api-key.js';
import { MetaStore } from '../../src/store/sqlite/meta.store.js';
import { SqliteSessionStore } from '../../src/store/sqlite/console-sessions.js';
import { PgMetaStore } from '../../src/store/postgres/pg.meta.js';
import { PgSessionStore } from '../../src/store/postgres/pg.console-sessions.js';
import { dataPaths } from '../../src/data-paths.js';
import { dropSchema, requirePostgres, testSchema } from '../helpers/services.js';
import { tempDir } from '../helpers/solute.js';

interface Harness {
  open(): Promise<{ sessions: SessionStore; admin: KeyAdmin; atRest(): Promise<string>; close(): Promise<void> }>;
}

const token = () => crypto.createHash('sha256').update(crypto.randomBytes(32)).digest();

function sessionContract(name: string, harness: Harness): void {
  describe(`console session store: ${name}`, () => {
    let h: Awaited<ReturnType<Harness['open']>>;
    beforeEach(async () => {
      h = await harness.open();
      return () => h.close();
    });

    it('finds a session of an active secret key until it expires; unknown tokens find nothing', async () => {
      const key = await h.admin.createKey('shop', 'secret');
      const t = token();
      const now = Date.now();
      await h.sessions.create(t, hashKey(key), now + 60_000);
      expect(await h.sessions.find(t, now)).toEqual({ project: 'shop', prefix: key.slice(0, 11), expiresAt: now + 60_000 });
      expect(await h.sessions.find(t, now + 60_000)).toBeNull();
      expect(await h.sessions.find(token(), now)).toBeNull();
    });

    it('a revoked key ends its sessions at once; a write key opens none', async () => {
      const key = await h.admin.createKey('shop', 'secret');
      const other = await h.admin.createKey('shop', 'secret');
      const write = await h.admin.createKey('shop', 'write');
      const [a, b, c] = [token(), token(), token()];
      await h.sessions.create(a, hashKey(key), Date.now() + 60_000);
      await h.sessions.create(b, hashKey(other), Date.now() + 60_000);
      await h.sessions.create(c, hashKey(write), Date.now() + 60_000);
      expect(await h.sessions.find(c, Date.now())).toBeNull();
      expect((await h.admin.revokeKey(key)).revoked).not.toBeNull();
      expect(await h.sessions.find(a, Date.now())).toBeNull();
      expect(await h.sessions.find(b, Date.now())).not.toBeNull();
      expect(await h.sessions.stillValid([a, b, c], Date.now())).toEqual(new Set([b.toString('hex')]));
    });

    it('sign-out deletes the session; expired ones are removed when a session is created', async () => {
      const key = await h.admin.createKey('shop', 'secret');
      const [a, old] = [token(), token()];
      await h.sessions.create(a, hashKey(key), Date.now() + 60_000);
      await h.sessions.create(old, hashKey(key), Date.now() + 10);
      await h.sessions.delete(a);
      expect(await h.sessions.find(a, Date.now())).toBeNull();
      await new Promise((r) => setTimeout(r, 20));
      await h.sessions.create(token(), hashKey(key), Date.now() + 60_000);
      expect(await h.atRest()).not.toContain(old.toString('hex'));
    });

    it('keeps no token or key in clear', async () => {
      const key = await h.admin.createKey('shop', 'secret');
      const cookieToken = crypto.randomBytes(32).toString('base64url');
      await h.sessions.create(crypto.createHash('sha256').update(cookieToken).digest(), hashKey(key), Date.now() + 60_000);
      const rest = await h.atRest();
      expect(rest).not.toContain(cookieToken);
      expect(rest).not.toContain(key);
    });
  });
}

sessionContract('SQLite (beside meta.sqlite)', {
  async open() {
    const file = dataPaths(tempDir()).meta;
    const meta = new MetaStore(file);
    const sessions = new SqliteSessionStore(file);
    const admin: KeyAdmin = {
      createKey: async (p, k) => meta.createKey(p, k),
      revokeKey: async (p) => meta.revokeKey(p),
    } as KeyAdmin;
    return {
      sessions,
      admin,
      atRest: async () => {
        const db = new Database(file, { readonly: true });
        const rows = db.prepare('SELECT hex(hash) AS h, hex(key_hash) AS k FROM console_sessions').all() as Array<{ h: string; k: string }>;
        db.close();
        return JSON.stringify(rows).toLowerCase() + fileText(file);
      },
      close: async () => {
        await sessions.close();
        meta.close();
      },
    };
  },
});

/** The file's bytes as latin1 text (the WAL too), to look for a value written in clear. */
function fileText(file: string): string {
  return [file, `${file}-wal`].map((f) => (fs.existsSync(f) ? fs.readFileSync(f).toString('latin1') : '')).join('');
}

const url = await requirePostgres();
const schema = testSchema('console_sessions');
afterAll(async () => {
  if (url) await dropSchema(url, schema);
});

describe.skipIf(!url)('PostgreSQL', () => {
  sessionContract('PostgreSQL (beside api_keys)', {
    async open() {
      const pool = new pg.Pool({ connectionString: url!, max: 3 });
      const meta = await PgMetaStore.open(pool, { schema });
      await pool.query(`DROP TABLE IF EXISTS "${schema}".console_sessions`);
      const sessions = await PgSessionStore.open(pool, schema);
      return {
        sessions,
        admin: meta,
        atRest: async () => {
          const { rows } = await pool.query(`SELECT encode(hash, 'hex') AS h, encode(key_hash, 'hex') AS k, t::text AS t FROM "${schema}".console_sessions t`);
          return JSON.stringify(rows);
        },
        close: async () => {
          await meta.close();
          await pool.end();
        },
      };
    },
  });
});
