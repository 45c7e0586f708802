// API keys and per-project settings (allowed origins, rate limit) in PostgreSQL, when SOLUTE_STORE
// is a postgres URL: several Solute processes on several machines then share one set of keys. The
// tables and columns are the SQLite store's (store/sqlite/meta.store.ts); keys are stored as SHA-256.
//
// Freshness. KeyResolver.resolve is synchronous (the auth hook calls it on every request), so it
// answers from an in-memory map and cannot ask PostgreSQL about a key it does not know. The map is
// kept fresh by LISTEN/NOTIFY: every change commits a `pg_notify('solute_keys', <schema>)` in the
// same transaction, and one dedicated connection per watching instance LISTENs and reloads the map
// when told (a few milliseconds after the commit). A periodic reload every keyRefreshMs covers a lost
// notification (the LISTEN connection dropped; it is reconnected with backoff and the map reloaded
// then). So a key created or revoked anywhere works, or stops working, everywhere within a few
// milliseconds, and at worst keyRefreshMs later; an instance that makes a change itself sees it when
// the call returns.
import pg from 'pg';
import { defaultSchema } from './pg.schema-name.js';
import { inTransaction } from './pg.transaction.js';
import type { KeyAdmin, KeyInfo, KeyKind, KeyResolver, RateLimit, ResolvedKey } from '../../contracts/key-store.js';
import type { KeyTableRows } from '../../contracts/key-store.js';
import { NO_SETTINGS, infoOf, settingsOf, type KeyRow, type ProjectRow, type ProjectSettings } from '../key-rows.js';
import { DISPLAY_PREFIX_LENGTH, displayPrefix, generateKey, hashKey, sameHash } from '../../auth/api-key.js';

/** The notification channel; its payload is the schema whose keys changed. */
export const KEYS_CHANNEL = 'solute_keys';

/** What this store logs: the LISTEN connection's losses and returns. pino's Logger fits. */
export interface PgMetaLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface PgMetaOptions {
  /** Schema of the tables (created when missing); default: the connection's current schema (search_path). */
  schema?: string;
  logger?: PgMetaLogger;
}


const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const SILENT: PgMetaLogger = { info() {}, warn() {} };
/** Reconnect delays of the LISTEN connection: doubling from the first to the last. */
const RECONNECT_FIRST_MS = 100;
const RECONNECT_MAX_MS = 30_000;

/** Creates the schema and tables when missing; several processes starting at once migrate once. */
async function migrate(pool: pg.Pool, schema: string): Promise<void> {
  // Already there (the usual case): nothing to lock, and no CREATE privilege needed, which
  // CREATE ... IF NOT EXISTS checks even when the object exists.
  const there = await pool.query<{ k: string | null; p: string | null }>('SELECT to_regclass($1) AS k, to_regclass($2) AS p', [
    `"${schema}".api_keys`,
    `"${schema}".projects`,
  ]);
  if (there.rows[0].k !== null && there.rows[0].p !== null) return;
  await inTransaction(pool, async (client) => {
    await client.query("SELECT pg_advisory_xact_lock(hashtext('solute.meta.migrate'))");
    // CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege even when the schema exists.
    const have = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
    if (have.rowCount === 0) await client.query(`CREATE SCHEMA "${schema}"`);
    await client.query(`CREATE TABLE IF NOT EXISTS "${schema}".api_keys (
      hash BYTEA PRIMARY KEY,            -- SHA-256 of the key; the key itself is never stored
      project TEXT NOT NULL,
      kind TEXT NOT NULL CHECK (kind IN ('write','secret')),
      prefix TEXT NOT NULL,
      created_at TEXT NOT NULL,          -- ISO 8601, as the SQLite store and the CLI show it
      revoked_at TEXT
    )`);
    await client.query(`CREATE TABLE IF NOT EXISTS "${schema}".projects (
      name TEXT PRIMARY KEY,
      allowed_origins TEXT NOT NULL DEFAULT '[]',  -- JSON array of origins; empty: any origin
      rate_limit_eps INTEGER,                      -- events per second; NULL: no limit
      rate_limit_burst INTEGER                     -- bucket size in events; NULL: the default
    )`);
  });
}

export class PgMetaStore implements KeyResolver, KeyAdmin {
  private keys = new Map<string, KeyRow>();
  private projects = new Map<string, ProjectSettings>();
  private watching = false;
  private closed = false;
  private timer: NodeJS.Timeout | null = null;
  private listener: pg.Client | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  /** The reload running now, and the one queued behind it (which every caller meanwhile shares). */
  private running: Promise<void> = Promise.resolve();
  private queued: Promise<void> | null = null;
  private readonly t: { keys: string; projects: string };

  private constructor(
    private readonly pool: pg.Pool,
    /** The schema holding the tables, also the payload of its notifications. */
    readonly schema: string,
    private readonly log: PgMetaLogger,
  ) {
    this.t = { keys: `"${schema}".api_keys`, projects: `"${schema}".projects` };
  }

  /** Opens the store over `pool` (which stays the caller's to end), creating its tables when missing. */
  static async open(pool: pg.Pool, options: PgMetaOptions = {}): Promise<PgMetaStore> {
    const schema = options.schema ?? (await defaultSchema(pool));
    if (!SCHEMA_NAME.test(schema)) throw new Error(`PostgreSQL schema name not supported: ${JSON.stringify(schema)} (letters, digits, _)`);
    await migrate(pool, schema);
    return new PgMetaStore(pool, schema, options.logger ?? SILENT);
  }

  /**
   * For a server: LISTENs for changes and loads the map (both before it resolves, so a start with
   * PostgreSQL unreachable fails), then reloads it on every notification and every `intervalMs`.
   * Without it (the CLI) the map stays empty: resolve() knows no key.
   */
  async watch(intervalMs: number): Promise<void> {
    if (this.watching) return;
    this.watching = true;
    // LISTEN before the first load, so that no change can fall between the two.
    await this.listen();
    await this.reload();
    this.timer = setInterval(() => {
      this.reload().catch((err) => this.log.warn({ err }, 'API keys: periodic reload from PostgreSQL failed; keeping the last ones loaded'));
    }, intervalMs);
    this.timer.unref();
  }

  /** Reloads the map; resolves after a load that started after this call (so it sees what was committed before). */
  reload(): Promise<void> {
    if (this.queued) return this.queued;
    const next = this.running
      .catch(() => {})
      .then(() => {
        this.queued = null;
        return this.load();
      });
    this.queued = next;
    this.running = next;
    return next;
  }

  private async load(): Promise<void> {
    if (this.closed) return;
    const [keys, projects] = await Promise.all([
      this.pool.query<KeyRow>(`SELECT hash, project, kind, prefix, created_at, revoked_at FROM ${this.t.keys} WHERE revoked_at IS NULL`),
      this.pool.query<ProjectRow>(`SELECT name, allowed_origins, rate_limit_eps, rate_limit_burst FROM ${this.t.projects}`),
    ]);
    const nextKeys = new Map<string, KeyRow>();
    for (const row of keys.rows) nextKeys.set(row.hash.toString('hex'), row);
    const nextProjects = new Map<string, ProjectSettings>();
    for (const row of projects.rows) nextProjects.set(row.name, settingsOf(row));
    this.keys = nextKeys;
    this.projects = nextProjects;
  }

  /** One dedicated connection (not the pool's: it is held for good) that LISTENs. */
  private async listen(): Promise<void> {
    // Named with its schema (pg_stat_activity shows whose listener it is; PostgreSQL keeps 63 bytes).
    const client = new pg.Client({ ...this.pool.options, application_name: `solute-keys-listen:${this.schema}`.slice(0, 63), keepAlive: true, keepAliveInitialDelayMillis: 10_000 });
    client.on('error', (err) => this.listenerLost(client, err));
    client.on('end', () => this.listenerLost(client, null));
    client.on('notification', (msg) => {
      if (msg.channel !== KEYS_CHANNEL || msg.payload !== this.schema) return;
      this.reload().catch((err) => this.log.warn({ err }, 'API keys: reload after a change notification failed; the periodic reload will retry'));
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${KEYS_CHANNEL}`);
    } catch (err) {
      client.end().catch(() => {});
      throw err;
    }
    if (this.closed) {
      await client.end().catch(() => {});
      return;
    }
    this.listener = client;
  }

  private listenerLost(client: pg.Client, err: Error | null): void {
    if (client !== this.listener || this.closed) return;
    this.listener = null;
    client.end().catch(() => {});
    this.log.warn({ err: err ?? undefined }, 'API keys: the PostgreSQL LISTEN connection dropped; reconnecting (changes still arrive by the periodic reload)');
    this.reconnect(RECONNECT_FIRST_MS);
  }

  private reconnect(delayMs: number): void {
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.closed) return;
      this.listen().then(
        () => {
          if (this.closed) return;
          this.log.info({}, 'API keys: the PostgreSQL LISTEN connection is back');
          // Notifications sent while it was down are lost: load what they announced.
          this.reload().catch((err) => this.log.warn({ err }, 'API keys: reload after reconnecting failed; the periodic reload will retry'));
        },
        (err: Error) => {
          const next = Math.min(delayMs * 2, RECONNECT_MAX_MS);
          this.log.warn({ err, retryInMs: next }, 'API keys: reconnecting the PostgreSQL LISTEN connection failed');
          this.reconnect(next);
        },
      );
    }, delayMs);
    this.reconnectTimer.unref();
  }

  resolve(key: string): ResolvedKey | null {
    const hash = hashKey(key);
    const row = this.keys.get(hash.toString('hex'));
    if (!row || !sameHash(row.hash, hash)) return null;
    const settings = this.projects.get(row.project) ?? NO_SETTINGS;
    return { project: row.project, kind: row.kind, prefix: row.prefix, allowedOrigins: settings.allowedOrigins, rateLimit: settings.rateLimit };
  }

  /**
   * Runs `fn` in a transaction that also notifies every watching instance, at its commit; then,
   * when this instance watches, reloads its own map so the change holds when the call returns.
   */
  /** Adds exported key and project rows (`bin/solute import`); rows already here are left as they are. */
  async importRows(rows: KeyTableRows): Promise<{ keys: number; projects: number }> {
    return this.change(async (c) => {
      let keys = 0;
      let projects = 0;
      for (const k of rows.keys) {
        const r = await c.query(
          `INSERT INTO "${this.schema}".api_keys (hash, project, kind, prefix, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (hash) DO NOTHING`,
          [Buffer.from(k.hash, 'hex'), k.project, k.kind, k.prefix, k.createdAt, k.revokedAt],
        );
        keys += r.rowCount ?? 0;
      }
      for (const p of rows.projects) {
        const r = await c.query(
          `INSERT INTO "${this.schema}".projects (name, allowed_origins, rate_limit_eps, rate_limit_burst) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING`,
          [p.name, p.allowedOrigins, p.rateLimitEps, p.rateLimitBurst],
        );
        projects += r.rowCount ?? 0;
      }
      return { keys, projects };
    });
  }

  private async change<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const result = await inTransaction(this.pool, async (client) => {
      const r = await fn(client);
      await client.query('SELECT pg_notify($1, $2)', [KEYS_CHANNEL, this.schema]);
      return r;
    });
    if (this.watching) await this.reload();
    return result;
  }

  async setAllowedOrigins(project: string, origins: readonly string[]): Promise<void> {
    await this.change((c) =>
      c.query(`INSERT INTO ${this.t.projects} (name, allowed_origins) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET allowed_origins = excluded.allowed_origins`, [
        project,
        JSON.stringify(origins),
      ]),
    );
  }

  async listAllowedOrigins(): Promise<Array<{ project: string; origins: string[] }>> {
    const { rows } = await this.pool.query<{ name: string; allowed_origins: string }>(`SELECT name, allowed_origins FROM ${this.t.projects} ORDER BY name COLLATE "C"`);
    return rows.map((r) => ({ project: r.name, origins: JSON.parse(r.allowed_origins) as string[] }));
  }

  async setRateLimit(project: string, limit: RateLimit | null): Promise<void> {
    await this.change((c) =>
      c.query(
        `INSERT INTO ${this.t.projects} (name, rate_limit_eps, rate_limit_burst) VALUES ($1, $2, $3) ` +
          'ON CONFLICT (name) DO UPDATE SET rate_limit_eps = excluded.rate_limit_eps, rate_limit_burst = excluded.rate_limit_burst',
        [project, limit?.eventsPerSecond ?? null, limit?.burst ?? null],
      ),
    );
  }

  async listRateLimits(): Promise<Array<{ project: string } & RateLimit>> {
    const { rows } = await this.pool.query<{ name: string; rate_limit_eps: number; rate_limit_burst: number | null }>(
      `SELECT name, rate_limit_eps, rate_limit_burst FROM ${this.t.projects} WHERE rate_limit_eps IS NOT NULL ORDER BY name COLLATE "C"`,
    );
    return rows.map((r) => ({ project: r.name, eventsPerSecond: r.rate_limit_eps, burst: r.rate_limit_burst }));
  }

  async createKey(project: string, kind: KeyKind): Promise<string> {
    const key = generateKey(kind);
    await this.change((c) =>
      c.query(`INSERT INTO ${this.t.keys} (hash, project, kind, prefix, created_at) VALUES ($1, $2, $3, $4, $5)`, [
        hashKey(key),
        project,
        kind,
        displayPrefix(key),
        new Date().toISOString(),
      ]),
    );
    return key;
  }

  async listKeys(): Promise<KeyInfo[]> {
    // COLLATE "C": byte order, as SQLite sorts (ISO 8601 strings sort by time either way).
    const { rows } = await this.pool.query<KeyRow>(`SELECT * FROM ${this.t.keys} ORDER BY created_at COLLATE "C"`);
    return rows.map(infoOf);
  }

  async revokeKey(prefix: string): Promise<{ matched: number; revoked: KeyInfo | null }> {
    return this.change(async (c) => {
      // FOR UPDATE: two revocations of the same key at once match it once.
      const { rows: active } = await c.query<KeyRow>(`SELECT * FROM ${this.t.keys} WHERE revoked_at IS NULL FOR UPDATE`);
      const matches =
        prefix.length > DISPLAY_PREFIX_LENGTH ? active.filter((r) => sameHash(r.hash, hashKey(prefix))) : active.filter((r) => r.prefix.startsWith(prefix));
      if (matches.length !== 1) return { matched: matches.length, revoked: null };
      const r = matches[0];
      const at = new Date().toISOString();
      await c.query(`UPDATE ${this.t.keys} SET revoked_at = $1 WHERE hash = $2`, [at, r.hash]);
      return { matched: 1, revoked: infoOf({ ...r, revoked_at: at }) };
    });
  }

  /** Stops watching and closes the LISTEN connection; the pool stays open (it is the caller's). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.timer = this.reconnectTimer = null;
    const listener = this.listener;
    this.listener = null;
    if (listener) await listener.end().catch(() => {});
    await this.running.catch(() => {});
  }
}
