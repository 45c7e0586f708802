// The API key port. Keys are stored hashed; only their prefix is ever shown again.
export type KeyKind = 'write' | 'secret';

export interface ResolvedKey {
  project: string;
  kind: KeyKind;
  prefix: string;
  /** Browser origins allowed to send with this project's keys; empty: any origin. */
  allowedOrigins: readonly string[];
}

export interface KeyInfo extends Omit<ResolvedKey, 'allowedOrigins'> {
  createdAt: string;
  revokedAt: string | null;
}

export interface KeyResolver {
  /** The key's project and kind, or null when unknown or revoked. */
  resolve(key: string): ResolvedKey | null;
}
