// The catalog of every error a client can see. Each code has a row in docs/errors.md;
// test/errors-catalog.test.ts keeps the two in step.

type Entry = { status: number; message: string };

export const ERRORS = {
  SOL_ERR_AUTH_MISSING_KEY: { status: 401, message: 'missing API key: send it in the X-Api-Key header' },
  SOL_ERR_AUTH_INVALID_KEY: { status: 401, message: 'invalid API key: unknown or revoked' },
  SOL_ERR_AUTH_MISSING_BEARER: { status: 401, message: 'missing secret key: send Authorization: Bearer sk_...' },
  SOL_ERR_AUTH_WRONG_KEY_KIND: { status: 403, message: '%s' },
  SOL_ERR_AUTH_SESSION_REQUIRED: { status: 401, message: '%s' },
  SOL_ERR_AUTH_CSRF: { status: 403, message: 'refused as a possible cross-site request (%s): console requests that change something must come from the console itself' },
  SOL_ERR_AUTH_ORIGIN_NOT_ALLOWED: { status: 403, message: 'origin %s may not send events for this project (see bin/solute origins)' },
  SOL_ERR_BODY_INVALID_JSON: { status: 400, message: 'request body is not valid JSON: %s' },
  SOL_ERR_BODY_TOO_LARGE: { status: 413, message: 'request body exceeds the limit of %s bytes' },
  SOL_ERR_BODY_UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'unsupported Content-Type %s: send application/json' },
  SOL_ERR_BODY_UNSUPPORTED_ENCODING: { status: 415, message: 'unsupported Content-Encoding %s: %s' },
  SOL_ERR_BODY_UNSUPPORTED_CHARSET: { status: 415, message: 'unsupported charset %s: send the body as UTF-8 (charset=utf-8 or none)' },
  SOL_ERR_BODY_INVALID_ENCODING: { status: 400, message: 'request body is not valid %s data' },
  SOL_ERR_BODY_NOT_OBJECT: { status: 400, message: 'request body must be a JSON object {batch, sentAt}' },
  SOL_ERR_BATCH_MISSING: { status: 400, message: '`batch` is required and must be an array of events' },
  SOL_ERR_BATCH_EMPTY: { status: 400, message: '`batch` must contain at least one event' },
  SOL_ERR_BATCH_TOO_LARGE: { status: 400, message: '`batch` has %s events; the limit is %s events per request' },
  SOL_ERR_BATCH_SENT_AT_INVALID: { status: 400, message: '`sentAt` is required and must be an ISO 8601 date-time with a time zone, e.g. 2025-01-15T10:30:05Z' },
  SOL_ERR_BATCH_NO_VALID_EVENTS: { status: 400, message: 'no event in the batch was valid; see errors[] for each one' },
  SOL_ERR_EVENT_INVALID: { status: 400, message: '%s' },
  SOL_ERR_EVENT_TOO_LARGE: { status: 400, message: 'event is %s bytes; the limit is %s bytes per event' },
  SOL_ERR_QUERY_INVALID_PARAM: { status: 400, message: '%s' },
  SOL_ERR_BAD_REQUEST: { status: 400, message: '%s' },
  SOL_ERR_REQUEST_TIMEOUT: { status: 408, message: 'the request was not received in time; send headers and body without pausing' },
  SOL_ERR_HEADERS_TOO_LARGE: { status: 431, message: 'request headers are too large' },
  SOL_ERR_ROUTE_NOT_FOUND: { status: 404, message: 'no route %s' },
  SOL_ERR_NOT_FOUND: { status: 404, message: '%s' },
  SOL_ERR_LOG_UNAVAILABLE: { status: 503, message: 'events cannot be made durable right now (disk write failed); retry later' },
  SOL_ERR_BACKLOG_FULL: { status: 503, message: 'processing backlog is full; retry later' },
  SOL_ERR_LOG_FULL: { status: 503, message: 'the durable log is at its bound (SOLUTE_NATS_MAX_BYTES, SOLUTE_NATS_MAX_MESSAGES) until processors catch up; retry later' },
  SOL_ERR_DEDUPE_FULL: { status: 503, message: 'dedupe index is at its configured capacity; retry later or raise SOLUTE_DEDUPE_MAX_KEYS' },
  SOL_ERR_PROJECT_DEDUPE_FULL: { status: 429, message: 'this project holds its bound of %s remembered messageIds (SOLUTE_DEDUPE_MAX_KEYS_PER_PROJECT) inside the dedupe window; retry later, when the oldest expire' },
  SOL_ERR_PROJECT_BACKLOG_FULL: { status: 503, message: "this project's processing backlog is at its bound of %s events (SOLUTE_PROJECT_BACKLOG_MAX_EVENTS); retry later" },
  SOL_ERR_PROJECT_OVERLOADED: { status: 503, message: "too many request bytes in flight for this project (SOLUTE_PROJECT_MAX_BYTES_IN_FLIGHT); retry later" },
  SOL_ERR_BATCH_STORED_TOO_LARGE: { status: 413, message: "this request's events take more than %s bytes as stored (the batch's context and integrations are copied into every event); the limit is twice the body limit: send fewer events per request" },
  SOL_ERR_INGEST_SLOW_DOWN: { status: 429, message: '%s' },
  SOL_ERR_RATE_LIMITED: { status: 429, message: 'rate limit of this project reached (%s events per second, %s at once): this batch of %s events fits in %s s; nothing of it was kept' },
  SOL_ERR_OVERLOADED: { status: 503, message: 'too many request bytes in flight; retry later' },
  SOL_ERR_CONSOLE_BUSY: { status: 503, message: 'too many live views are open on this server (at most %s); close one, or retry later' },
  SOL_ERR_NOT_READY: { status: 503, message: 'server is starting or shutting down; retry later' },
  SOL_ERR_INTERNAL: { status: 500, message: 'internal error' },
} as const satisfies Record<string, Entry>;

export type ErrorCode = keyof typeof ERRORS;

export class SoluteError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Seconds for a Retry-After header, on 503/429. */
  readonly retryAfter?: number;

  constructor(code: ErrorCode, params: Array<string | number> = [], opts: { retryAfter?: number; cause?: unknown } = {}) {
    super(formatMessage(code, params), { cause: opts.cause });
    this.name = 'SoluteError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.retryAfter = opts.retryAfter;
  }
}

export function formatMessage(code: ErrorCode, params: Array<string | number> = []): string {
  let i = 0;
  return ERRORS[code].message.replace(/%s/g, () => String(params[i++] ?? ''));
}

export function isSoluteError(err: unknown): err is SoluteError {
  return err instanceof SoluteError;
}
