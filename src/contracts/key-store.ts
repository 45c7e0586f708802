// The API key port. Keys are stored hashed; only their prefix is ever shown again.
export type KeyKind = 'write' | 'secret';

/** A project's ingest rate limit, counted in events (not requests). */
export interface RateLimit {
  eventsPerSecond: number;
  /** Events that may arrive at once (the bucket's size); null: the default, max(eventsPerSecond, the batch limit). */
  burst: number | null;
}

export interface ResolvedKey {
  project: string;
  kind: KeyKind;
  prefix: string;
  /** Browser origins allowed to send with this project's keys; empty: any origin. */
  allowedOrigins: readonly string[];
  /** The project's ingest rate limit; null: none (the default). */
  rateLimit: Readonly<RateLimit> | null;
}

export interface KeyInfo extends Omit<ResolvedKey, 'allowedOrigins' | 'rateLimit'> {
  createdAt: string;
  revokedAt: string | null;
}

export interface KeyResolver {
  /** The key's project and kind, or null when unknown or revoked. */
  resolve(key: string): ResolvedKey | null;
}

/**
 * Key and per-project settings management, as `bin/solute keys|origins|limits` (and the server's
 * wiring) use it. Implemented by the embedded SQLite store (synchronous underneath, wrapped) and the
 * PostgreSQL one (asynchronous), hence Promises. Changes made through one instance reach every
 * KeyResolver over the same storage within the adapter's documented bound.
 */
export interface KeyAdmin {
  /** Creates a key and returns it whole: the only time it is ever seen; only its hash is stored. */
  createKey(project: string, kind: KeyKind): Promise<string>;
  /** Every key, revoked ones too, oldest first. */
  listKeys(): Promise<KeyInfo[]>;
  /**
   * Revokes the one active key that `prefix` designates: a displayed prefix (or a leading part of
   * one) or the whole key. Nothing is revoked when it matches none or several.
   */
  revokeKey(prefix: string): Promise<{ matched: number; revoked: KeyInfo | null }>;
  /** Sets the browser origins allowed to send for a project; an empty list allows any. */
  setAllowedOrigins(project: string, origins: readonly string[]): Promise<void>;
  /** Every project's row, by name (a cleared or never-set list is an empty array). */
  listAllowedOrigins(): Promise<Array<{ project: string; origins: string[] }>>;
  /** Sets (or, with null, removes) a project's ingest rate limit. */
  setRateLimit(project: string, limit: RateLimit | null): Promise<void>;
  /** Projects that have a rate limit, by name. */
  listRateLimits(): Promise<Array<{ project: string } & RateLimit>>;
}

/** The rows of the key tables, as `bin/solute export` writes them and `import` reads them (hashes only). */
export interface KeyTableRows {
  keys: Array<{ hash: string; project: string; kind: KeyKind; prefix: string; createdAt: string; revokedAt: string | null }>;
  projects: Array<{ name: string; allowedOrigins: string; rateLimitEps: number | null; rateLimitBurst: number | null }>;
}
