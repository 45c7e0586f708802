// Requests to Solute, with relative URLs only (the console may live under a path prefix).
// The session is a cookie the browser sends by itself; requests that change something add the
// session's CSRF value, held here in memory (never in storage).

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
  /** The server has no such route (a feature this server does not have). */
  get routeMissing(): boolean {
    return this.status === 404 && this.code === 'SOL_ERR_ROUTE_NOT_FOUND';
  }
}

export interface Session {
  project: string;
  keyPrefix: string;
  expiresAt: string;
  csrfToken: string;
}

let csrf = '';
let onSignedOut: () => void = () => {};

export function setSession(s: Session | null): void {
  csrf = s?.csrfToken ?? '';
}

/** Called when any request finds the session ended (signed out elsewhere, expired, key revoked). */
export function whenSignedOut(fn: () => void): void {
  onSignedOut = fn;
}

type Query = Record<string, string | number | boolean | undefined | null>;

export function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

export async function api<T>(path: string, opts: { method?: string; query?: Query; body?: unknown; quiet401?: boolean } = {}): Promise<T> {
  const method = opts.method ?? 'GET';
  const headers: Record<string, string> = { accept: 'application/json' };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET') headers['x-solute-csrf'] = csrf;
  let res: Response;
  try {
    res = await fetch(withQuery(path, opts.query), {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, 'NETWORK', 'Solute cannot be reached: check that the server runs');
  }
  if (res.status === 204) return undefined as T;
  const data = (await res.json().catch(() => null)) as { code?: string; message?: string } | null;
  if (!res.ok) {
    const err = new ApiError(res.status, data?.code ?? 'UNKNOWN', data?.message ?? `HTTP ${res.status}`);
    if (err.code === 'SOL_ERR_AUTH_SESSION_REQUIRED' && !opts.quiet401) onSignedOut();
    throw err;
  }
  return data as T;
}

/** A stored event, as GET /api/events returns it. */
export type StoredEvent = Record<string, unknown> & {
  type?: string;
  event?: string;
  messageId?: string;
  userId?: string | null;
  anonymousId?: string | null;
  timestamp?: string;
  originalTimestamp?: string;
  sentAt?: string;
  receivedAt?: string;
};

/** The stored form of an event, or null while it is not stored yet. */
export async function storedEvent(messageId: string): Promise<StoredEvent | null> {
  const r = await api<{ events: StoredEvent[] }>('api/events', { query: { messageId, limit: 1 } });
  return r.events[0] ?? null;
}
