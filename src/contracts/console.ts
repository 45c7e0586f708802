// Ports of the console (src/console): the acknowledgement tap the live view reads, and the store of
// console sessions. Adapters: store/sqlite/console-sessions.ts, store/postgres/pg.console-sessions.ts.

/** One event of an acknowledged request, as the ack path made it durable (or recognised it). */
export interface AckedEvent {
  /** The event as acknowledged: the client's fields plus timestamp, originalTimestamp, sentAt, receivedAt. */
  event: Record<string, unknown>;
  /** true: its messageId was already received, so nothing was written for it. */
  duplicate: boolean;
}

/**
 * The ack path's hook for the live view. `watching` is asked once per request: only when it answers
 * true does the ack path collect the request's events, so nobody watching costs one map lookup.
 * `acknowledged` is called after the events are durable, before the answer; it must not block or throw.
 */
export interface AckTap {
  watching(project: string): boolean;
  acknowledged(project: string, events: AckedEvent[]): void;
}

/** What a valid session stands for: the secret key it was opened with. */
export interface SessionKey {
  project: string;
  /** The key's displayed prefix (as `bin/solute keys list` shows it). */
  prefix: string;
  /** Epoch ms. */
  expiresAt: number;
}

/**
 * Console sessions, kept beside the keys (the same SQLite file, or the same PostgreSQL schema) so a
 * session is valid on every process that shares them. Tokens and keys are only ever passed and
 * stored as SHA-256 hashes.
 */
export interface SessionStore {
  /** Opens a session for an (active, secret) key; expired sessions are removed on the way. */
  create(tokenHash: Buffer, keyHash: Buffer, expiresAt: number): Promise<void>;
  /** The session's key when the session exists, has not expired and its key is an active secret key; else null. */
  find(tokenHash: Buffer, now: number): Promise<SessionKey | null>;
  /** Of the given sessions, the hashes (hex) of those `find` would accept. */
  stillValid(tokenHashes: readonly Buffer[], now: number): Promise<Set<string>>;
  /** Ends a session (sign-out); unknown tokens are ignored. */
  delete(tokenHash: Buffer): Promise<void>;
  close(): Promise<void>;
}
