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
