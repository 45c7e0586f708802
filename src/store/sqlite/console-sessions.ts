// Console sessions in the embedded key store's SQLite file (meta.sqlite), beside api_keys: a session
// is valid while its row exists, has not expired, and the key it was opened with is an active secret
// key, all checked in one query, so `bin/solute keys revoke` ends the key's sessions at its commit.
// Its own connection to the file (WAL: readers never wait for the CLI's writes).
import Database from 'better-sqlite3';
import type { SessionKey, SessionStore } from '../../contracts/console.js';

export class SqliteSessionStore implements SessionStore {
  private readonly db: Database.Database;
  private readonly insert: Database.Statement<[Buffer, Buffer, number, number]>;
  private readonly purge: Database.Statement<[number]>;
  private readonly byHash: Database.Statement<[Buffer, number], { project: string; prefix: string; expires_at: number }>;
  private readonly remove: Database.Statement<[Buffer]>;

  /** `file` is the key store's (MetaStore creates api_keys there first). */
  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('synchronous = FULL');
    this.db.exec(`CREATE TABLE IF NOT EXISTS console_sessions (
      hash BLOB PRIMARY KEY,        -- SHA-256 of the session token (the cookie); the token is never stored
      key_hash BLOB NOT NULL,       -- api_keys.hash of the secret key it was opened with
      created_at INTEGER NOT NULL,  -- epoch ms
      expires_at INTEGER NOT NULL   -- epoch ms
    ) WITHOUT ROWID`);
    this.insert = this.db.prepare('INSERT INTO console_sessions (hash, key_hash, created_at, expires_at) VALUES (?, ?, ?, ?)');
    this.purge = this.db.prepare('DELETE FROM console_sessions WHERE expires_at <= ?');
    this.byHash = this.db.prepare(
      `SELECT k.project, k.prefix, s.expires_at FROM console_sessions s JOIN api_keys k ON k.hash = s.key_hash
       WHERE s.hash = ? AND s.expires_at > ? AND k.revoked_at IS NULL AND k.kind = 'secret'`,
    );
    this.remove = this.db.prepare('DELETE FROM console_sessions WHERE hash = ?');
  }

  async create(tokenHash: Buffer, keyHash: Buffer, expiresAt: number): Promise<void> {
    const now = Date.now();
    this.db.transaction(() => {
      this.purge.run(now);
      this.insert.run(tokenHash, keyHash, now, expiresAt);
    }).immediate();
  }

  async find(tokenHash: Buffer, now: number): Promise<SessionKey | null> {
    const row = this.byHash.get(tokenHash, now);
    return row ? { project: row.project, prefix: row.prefix, expiresAt: row.expires_at } : null;
  }

  async stillValid(tokenHashes: readonly Buffer[], now: number): Promise<Set<string>> {
    const valid = new Set<string>();
    for (const h of tokenHashes) if (this.byHash.get(h, now)) valid.add(h.toString('hex'));
    return valid;
  }

  async delete(tokenHash: Buffer): Promise<void> {
    this.remove.run(tokenHash);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
