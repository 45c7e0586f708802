// The rows of the key tables (api_keys, projects) as both key stores hold them, SQLite and
// PostgreSQL, and what a row means.
import type { KeyInfo, KeyKind, RateLimit } from '../contracts/key-store.js';

export interface KeyRow {
  hash: Buffer;
  project: string;
  kind: KeyKind;
  prefix: string;
  created_at: string;
  revoked_at: string | null;
}

export interface ProjectRow {
  name: string;
  allowed_origins: string;
  rate_limit_eps: number | null;
  rate_limit_burst: number | null;
}

/** What a project's row says; a project without a row has no list and no limit. */
export interface ProjectSettings {
  allowedOrigins: readonly string[];
  rateLimit: Readonly<RateLimit> | null;
}

export const NO_SETTINGS: ProjectSettings = Object.freeze({ allowedOrigins: Object.freeze([]), rateLimit: null });

export function settingsOf(row: ProjectRow | undefined): ProjectSettings {
  if (!row) return NO_SETTINGS;
  return {
    allowedOrigins: Object.freeze(JSON.parse(row.allowed_origins) as string[]),
    rateLimit: row.rate_limit_eps === null ? null : Object.freeze({ eventsPerSecond: row.rate_limit_eps, burst: row.rate_limit_burst }),
  };
}

/** A key as listed (never the key itself). */
export function infoOf(r: KeyRow): KeyInfo {
  return { project: r.project, kind: r.kind, prefix: r.prefix, createdAt: r.created_at, revokedAt: r.revoked_at };
}
