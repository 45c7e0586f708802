// Keys and per-project settings (allowed origins, rate limit) in SQLite: a file that the CLI can write while the server runs,
// which DuckDB (one writing process only) cannot offer. WAL mode, so readers never block the writer.
import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import type { KeyAdmin, KeyInfo, KeyKind, KeyResolver, RateLimit, ResolvedKey } from '../../contracts/key-store.js';
import type { KeyTableRows } from '../../contracts/key-store.js';
import { infoOf, settingsOf, type KeyRow, type ProjectRow, type ProjectSettings } from '../key-rows.js';
import { DISPLAY_PREFIX_LENGTH, displayPrefix, generateKey, hashKey, sameHash } from '../../auth/api-key.js';

/**
 * Columns added to `projects` after its first release, with their definitions. Data dirs created
 * before them are migrated in place when the store opens (by the server or the CLI, whichever first).
 */
const PROJECT_COLUMNS_ADDED: ReadonlyArray<[name: string, definition: string]> = [
  ['rate_limit_eps', 'INTEGER'], // events per second; NULL: no limit
  ['rate_limit_burst', 'INTEGER'], // bucket size in events; NULL: the default (see ingest/hooks/rate-limit.hook.ts)
];

export class MetaStore implements KeyResolver {
  private readonly db: Database.Database;
  private cache = new Map<string, KeyRow>();
  private dataVersion = -1;
  private timer: NodeJS.Timeout | null = null;
  private readonly byHash: Database.Statement<[Buffer], KeyRow>;
  private readonly projectRow: Database.Statement<[string], ProjectRow>;
  private projects = new Map<string, ProjectSettings>();

  constructor(file: string) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('synchronous = FULL');
    // One write transaction, so a server and a CLI opening an old data dir at once migrate it once.
    this.db.transaction(() => {
      this.db.exec(`CREATE TABLE IF NOT EXISTS api_keys (
        hash BLOB PRIMARY KEY,
        project TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('write','secret')),
        prefix TEXT NOT NULL,
        created_at TEXT NOT NULL,
        revoked_at TEXT
      ) WITHOUT ROWID`);
      this.db.exec(`CREATE TABLE IF NOT EXISTS projects (
        name TEXT PRIMARY KEY,
        allowed_origins TEXT NOT NULL DEFAULT '[]'   -- JSON array of origins; empty: any origin
      ) WITHOUT ROWID`);
      const have = new Set((this.db.prepare('PRAGMA table_info(projects)').all() as Array<{ name: string }>).map((c) => c.name));
      for (const [name, definition] of PROJECT_COLUMNS_ADDED) {
        if (!have.has(name)) this.db.exec(`ALTER TABLE projects ADD COLUMN ${name} ${definition}`);
      }
    }).immediate();
    this.byHash = this.db.prepare('SELECT * FROM api_keys WHERE hash = ?');
    this.projectRow = this.db.prepare('SELECT name, allowed_origins, rate_limit_eps, rate_limit_burst FROM projects WHERE name = ?');
  }

  /** Reloads the key cache whenever another process (the CLI) has committed a change. */
  watch(intervalMs: number): void {
    this.refresh();
    this.timer = setInterval(() => this.refresh(), intervalMs);
    this.timer.unref();
  }

  refresh(): void {
    const version = this.db.pragma('data_version', { simple: true }) as number;
    if (version === this.dataVersion) return;
    this.dataVersion = version;
    const next = new Map<string, KeyRow>();
    for (const row of this.db.prepare('SELECT * FROM api_keys WHERE revoked_at IS NULL').all() as KeyRow[]) {
      next.set(row.hash.toString('hex'), row);
    }
    this.cache = next;
    const projects = new Map<string, ProjectSettings>();
    for (const row of this.db.prepare('SELECT name, allowed_origins, rate_limit_eps, rate_limit_burst FROM projects').all() as ProjectRow[]) {
      projects.set(row.name, settingsOf(row));
    }
    this.projects = projects;
  }

  /**
   * After a write through this instance: SQLite's data_version counts other connections' commits
   * only, so a watching instance reloads at once (the server itself, or a future admin path in it,
   * then sees its own change when the call returns). The CLI does not watch and skips this.
   */
  private changed(): void {
    if (this.timer === null) return;
    this.dataVersion = -1;
    this.refresh();
  }

  resolve(key: string): ResolvedKey | null {
    const hash = hashKey(key);
    const hex = hash.toString('hex');
    let row = this.cache.get(hex);
    if (!row) {
      // A key created a moment ago by the CLI must work on the very next request.
      const fresh = this.byHash.get(hash);
      if (!fresh || fresh.revoked_at !== null) return null;
      this.cache.set(hex, fresh);
      row = fresh;
    }
    if (!sameHash(row.hash, hash)) return null;
    const settings = this.settings(row.project);
    return { project: row.project, kind: row.kind, prefix: row.prefix, allowedOrigins: settings.allowedOrigins, rateLimit: settings.rateLimit };
  }

  private settings(project: string): ProjectSettings {
    let settings = this.projects.get(project);
    if (settings === undefined) {
      settings = settingsOf(this.projectRow.get(project));
      this.projects.set(project, settings);
    }
    return settings;
  }

  /** Sets the browser origins allowed to send for a project; an empty list allows any. */
  setAllowedOrigins(project: string, origins: readonly string[]): void {
    this.db
      .prepare('INSERT INTO projects (name, allowed_origins) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET allowed_origins = excluded.allowed_origins')
      .run(project, JSON.stringify(origins));
    this.changed();
  }

  listAllowedOrigins(): Array<{ project: string; origins: string[] }> {
    const rows = this.db.prepare('SELECT name, allowed_origins FROM projects ORDER BY name').all() as Array<{ name: string; allowed_origins: string }>;
    return rows.map((r) => ({ project: r.name, origins: JSON.parse(r.allowed_origins) as string[] }));
  }

  /** Sets (or, with null, removes) a project's ingest rate limit. */
  setRateLimit(project: string, limit: RateLimit | null): void {
    this.db
      .prepare(
        'INSERT INTO projects (name, rate_limit_eps, rate_limit_burst) VALUES (?, ?, ?) ' +
          'ON CONFLICT (name) DO UPDATE SET rate_limit_eps = excluded.rate_limit_eps, rate_limit_burst = excluded.rate_limit_burst',
      )
      .run(project, limit?.eventsPerSecond ?? null, limit?.burst ?? null);
    this.changed();
  }

  /** Projects that have a rate limit. */
  listRateLimits(): Array<{ project: string } & RateLimit> {
    const rows = this.db
      .prepare('SELECT name, rate_limit_eps, rate_limit_burst FROM projects WHERE rate_limit_eps IS NOT NULL ORDER BY name')
      .all() as Array<{ name: string; rate_limit_eps: number; rate_limit_burst: number | null }>;
    return rows.map((r) => ({ project: r.name, eventsPerSecond: r.rate_limit_eps, burst: r.rate_limit_burst }));
  }

  createKey(project: string, kind: KeyKind): string {
    const key = generateKey(kind);
    this.db
      .prepare('INSERT INTO api_keys (hash, project, kind, prefix, created_at) VALUES (?, ?, ?, ?, ?)')
      .run(hashKey(key), project, kind, displayPrefix(key), new Date().toISOString());
    this.changed();
    return key;
  }

  listKeys(): KeyInfo[] {
    const rows = this.db.prepare('SELECT * FROM api_keys ORDER BY created_at').all() as KeyRow[];
    return rows.map(infoOf);
  }

  /**
   * Revokes the one active key that `prefix` designates: a displayed prefix (or a leading part of
   * one) or the whole key. Nothing is revoked when it matches none or several.
   */
  revokeKey(prefix: string): { matched: number; revoked: KeyInfo | null } {
    const active = this.db.prepare('SELECT * FROM api_keys WHERE revoked_at IS NULL').all() as KeyRow[];
    const matches =
      prefix.length > DISPLAY_PREFIX_LENGTH
        ? active.filter((r) => sameHash(r.hash, hashKey(prefix)))
        : active.filter((r) => r.prefix.startsWith(prefix));
    if (matches.length !== 1) return { matched: matches.length, revoked: null };
    const r = matches[0];
    const at = new Date().toISOString();
    this.db.prepare('UPDATE api_keys SET revoked_at = ? WHERE hash = ?').run(at, r.hash);
    this.changed();
    return { matched: 1, revoked: infoOf({ ...r, revoked_at: at }) };
  }

  /** Every key (hash in hex, never the key) and project row: what `bin/solute export` writes. */
  exportRows(): KeyTableRows {
    const keys = this.db.prepare('SELECT hash, project, kind, prefix, created_at, revoked_at FROM api_keys ORDER BY created_at').all() as Array<{
      hash: Buffer; project: string; kind: KeyKind; prefix: string; created_at: string; revoked_at: string | null;
    }>;
    const projects = this.db.prepare('SELECT name, allowed_origins, rate_limit_eps, rate_limit_burst FROM projects ORDER BY name').all() as Array<{
      name: string; allowed_origins: string; rate_limit_eps: number | null; rate_limit_burst: number | null;
    }>;
    return {
      keys: keys.map((k) => ({ hash: k.hash.toString('hex'), project: k.project, kind: k.kind, prefix: k.prefix, createdAt: k.created_at, revokedAt: k.revoked_at })),
      projects: projects.map((p) => ({ name: p.name, allowedOrigins: p.allowed_origins, rateLimitEps: p.rate_limit_eps, rateLimitBurst: p.rate_limit_burst })),
    };
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.db.open) this.db.close();
  }
}

/**
 * The KeyAdmin port over a MetaStore: the same synchronous methods, answered as Promises (a throw
 * becomes a rejection), so the CLI drives this store and the PostgreSQL one alike.
 */
export function metaKeyAdmin(meta: MetaStore): KeyAdmin {
  return {
    createKey: async (project, kind) => meta.createKey(project, kind),
    listKeys: async () => meta.listKeys(),
    revokeKey: async (prefix) => meta.revokeKey(prefix),
    setAllowedOrigins: async (project, origins) => meta.setAllowedOrigins(project, origins),
    listAllowedOrigins: async () => meta.listAllowedOrigins(),
    setRateLimit: async (project, limit) => meta.setRateLimit(project, limit),
    listRateLimits: async () => meta.listRateLimits(),
  };
}
