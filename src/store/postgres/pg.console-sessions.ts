// Console sessions in PostgreSQL, in the key store's schema beside api_keys, so a session opened on
// one Solute process is valid on every other one. Validity is one query joining the session to its
// key: a revoked key (from any machine) ends its sessions at the revocation's commit.
import pg from 'pg';
import { inTransaction } from './pg.transaction.js';
import type { SessionKey, SessionStore } from '../../contracts/console.js';

export class PgSessionStore implements SessionStore {
  private readonly t: { sessions: string; keys: string };

  private constructor(
    private readonly pool: pg.Pool,
    schema: string,
  ) {
    this.t = { sessions: `"${schema}".console_sessions`, keys: `"${schema}".api_keys` };
  }

  /** Over `pool` (the caller's to end) and the key store's schema, whose api_keys table exists (PgMetaStore.open made it). */
  static async open(pool: pg.Pool, schema: string): Promise<PgSessionStore> {
    const s = new PgSessionStore(pool, schema);
    const there = await pool.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [s.t.sessions]);
    if (there.rows[0].t === null) {
      await inTransaction(pool, async (client) => {
        await client.query("SELECT pg_advisory_xact_lock(hashtext('solute.console.migrate'))");
        await client.query(`CREATE TABLE IF NOT EXISTS ${s.t.sessions} (
          hash BYTEA PRIMARY KEY,       -- SHA-256 of the session token (the cookie); the token is never stored
          key_hash BYTEA NOT NULL,      -- api_keys.hash of the secret key it was opened with
          created_at BIGINT NOT NULL,   -- epoch ms
          expires_at BIGINT NOT NULL    -- epoch ms
        )`);
      });
    }
    return s;
  }

  async create(tokenHash: Buffer, keyHash: Buffer, expiresAt: number): Promise<void> {
    const now = Date.now();
    await this.pool.query(`DELETE FROM ${this.t.sessions} WHERE expires_at <= $1`, [now]);
    await this.pool.query(`INSERT INTO ${this.t.sessions} (hash, key_hash, created_at, expires_at) VALUES ($1, $2, $3, $4)`, [tokenHash, keyHash, now, expiresAt]);
  }

  async find(tokenHash: Buffer, now: number): Promise<SessionKey | null> {
    const { rows } = await this.pool.query<{ project: string; prefix: string; expires_at: string }>(
      `SELECT k.project, k.prefix, s.expires_at FROM ${this.t.sessions} s JOIN ${this.t.keys} k ON k.hash = s.key_hash
       WHERE s.hash = $1 AND s.expires_at > $2 AND k.revoked_at IS NULL AND k.kind = 'secret'`,
      [tokenHash, now],
    );
    const r = rows[0];
    return r ? { project: r.project, prefix: r.prefix, expiresAt: Number(r.expires_at) } : null;
  }

  async stillValid(tokenHashes: readonly Buffer[], now: number): Promise<Set<string>> {
    if (tokenHashes.length === 0) return new Set();
    const { rows } = await this.pool.query<{ hash: Buffer }>(
      `SELECT s.hash FROM ${this.t.sessions} s JOIN ${this.t.keys} k ON k.hash = s.key_hash
       WHERE s.hash = ANY($1::bytea[]) AND s.expires_at > $2 AND k.revoked_at IS NULL AND k.kind = 'secret'`,
      [tokenHashes, now],
    );
    return new Set(rows.map((r) => r.hash.toString('hex')));
  }

  async delete(tokenHash: Buffer): Promise<void> {
    await this.pool.query(`DELETE FROM ${this.t.sessions} WHERE hash = $1`, [tokenHash]);
  }

  async close(): Promise<void> {
    // The pool is the caller's.
  }
}
