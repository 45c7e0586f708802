// The API key port. Keys are stored hashed; only their prefix is ever shown again.
export type KeyKind = 'write' | 'secret';

export interface ResolvedKey {
  project: string;
  kind: KeyKind;
  prefix: string;
}

export interface KeyInfo extends ResolvedKey {
  createdAt: string;
  revokedAt: string | null;
}

export interface KeyResolver {
  /** The key's project and kind, or null when unknown or revoked. */
  resolve(key: string): ResolvedKey | null;
}
