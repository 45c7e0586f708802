// The public surface of @solute-ai/sdk. Everything a user sees is declared here, so the emitted
// index.d.ts has no relative imports and serves ESM and CJS alike (copied to .d.mts and .d.cts).
import { create } from './core.js';

export type Properties = Record<string, unknown>;

/** An event as it is sent (`POST /api/events`, the spec's Event Object). */
export interface SoluteEvent {
  type: 'track' | 'identify' | 'page' | 'group' | 'alias';
  event?: string;
  name?: string;
  category?: string;
  properties?: Properties;
  traits?: Properties;
  groupId?: string;
  previousId?: string;
  userId?: string;
  anonymousId: string;
  messageId: string;
  timestamp: string;
  context: Properties;
  [key: string]: unknown;
}

/** What `onError` receives. Events are dropped only in the cases named here. */
export interface SoluteError {
  /**
   * - `event`: Solute refused these events one by one (the answer's `errors`); dropped.
   * - `batch`: the request was refused as a whole and is not retried (400, 401, 403, other 4xx, or 413 for a
   *   single event); dropped.
   * - `retry`: a send failed `maxRetries + 1` times (network error, 408, 429, 5xx); the events stay queued and
   *   are tried again at the next flush.
   * - `drop`: dropped by the SDK: the queue's bounds (events, bytes, age), `beforeSend` or serialisation
   *   threw, or `close()` timed out with events still queued.
   */
  type: 'event' | 'batch' | 'retry' | 'drop';
  message: string;
  /** HTTP status, when there was an answer. */
  status?: number;
  /** Solute's error code (`SOL_ERR_...`), when the answer had one. */
  code?: string;
  events: SoluteEvent[];
}

export interface SoluteOptions {
  /** A write key (`wk_...`). */
  writeKey: string;
  /** Solute's base URL, e.g. `https://solute.example.com` (default in a browser: the page's own origin; required elsewhere). */
  host?: string;
  /** Send as soon as this many events are queued (default 20). */
  flushAt?: number;
  /** Send queued events at most this many ms after they were queued (default 5000). */
  flushInterval?: number;
  /** Most events kept queued; the oldest are dropped past it (browser 1000, Node 100000). */
  maxQueueEvents?: number;
  /** Most bytes (UTF-8 JSON) kept queued; the oldest are dropped past it (browser 1 MB, Node 128 MiB). */
  maxQueueBytes?: number;
  /** Events older than this many ms are dropped unsent (default 7 days, Solute's dedupe window). */
  maxEventAge?: number;
  /** Browser: keep the queue, ids, session and opt-out in localStorage and a cookie (default true). */
  persist?: boolean;
  /** Domain of the anonymousId cookie, e.g. `.example.com` to share it across subdomains (default: the page's host). */
  cookieDomain?: string;
  /** Adds `context.sessionId` (default: true in browsers, false in Node, where one process serves many users). */
  session?: boolean;
  /** Sees every event before it is queued; return it (changed or not) to keep it, `null` to drop it. */
  beforeSend?: (event: SoluteEvent) => SoluteEvent | null | undefined;
  /** Told about every event that is dropped or not yet delivered; never throws into your code. */
  onError?: (error: SoluteError) => void;
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch;
  /** Logs every event and send to the console. */
  debug?: boolean;
  /** Batches sent at once (browser 1, keeping the calls' order; Node 4, so that Solute's group commit can share fsyncs). */
  concurrency?: number;
  /** Retries of one batch before `onError` is told and the batch waits for the next flush (default 10). */
  maxRetries?: number;
  /** First retry delay in ms, doubled each retry, with jitter (default 1000). */
  retryDelay?: number;
  /** Longest retry delay in ms (default 30000); a longer `Retry-After` is honoured up to 10 minutes. */
  maxRetryDelay?: number;
  /** A request without an answer after this many ms is aborted and retried (default 15000). */
  timeout?: number;
  /** How long `close()` waits for the queue to be delivered, in ms (default 30000). */
  closeTimeout?: number;
}

/** Per-call overrides. */
export interface CallOptions {
  userId?: string;
  anonymousId?: string;
  /** The event's time (default: now). */
  timestamp?: Date | string | number;
  /** Merged over the context the SDK builds. */
  context?: Properties;
  /** Only for `page`: the page's category. */
  category?: string;
  /** Your own idempotency key (default: a new UUID v4). */
  messageId?: string;
}

export interface Solute {
  track(event: string, properties?: Properties, options?: CallOptions): void;
  /** Sets (and, in browsers, remembers) the userId; `identify(traits)` keeps the current one. */
  identify(userId?: string | Properties | null, traits?: Properties, options?: CallOptions): void;
  page(name?: string | null, properties?: Properties, options?: CallOptions): void;
  group(groupId: string, traits?: Properties, options?: CallOptions): void;
  /** Links `previousId` (default: the current userId, or the anonymousId when none) to `userId`, which becomes the current userId. */
  alias(userId: string, previousId?: string | null, options?: CallOptions): void;
  /** Resolves when every event queued before the call has an answer (or its retries are spent for now). */
  flush(): Promise<void>;
  /** Forgets the user: a new anonymousId and session, no userId. */
  reset(): void;
  /** Stops sending: queued events are discarded and later calls ignored, until `optIn()` (remembered in browsers). */
  optOut(): void;
  optIn(): void;
  readonly anonymousId: string;
  readonly userId: string | undefined;
  /** Flushes (waiting at most `closeTimeout`), then stops timers and listeners; later calls are ignored. */
  close(): Promise<void>;
}

export const VERSION: string = __SDK_VERSION__;

export function createSolute(options: SoluteOptions): Solute {
  return create(options);
}
