// Helpers for the console's HTTP API: sign in (cookie + CSRF value), and a Server-Sent Events reader.
import http from 'node:http';
import { expect } from 'vitest';
import { createEventSteps, type EventStep } from '../../src/process/pipeline.js';

export interface ConsoleSession {
  cookie: string;
  csrf: string;
  setCookie: string;
}

/** POST /api/console/session with a key; the session's cookie header value and CSRF token. */
export async function signIn(url: string, key: string): Promise<ConsoleSession> {
  const r = await fetch(`${url}/api/console/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key }) });
  const body = (await r.json()) as { csrfToken: string };
  expect(r.status, JSON.stringify(body)).toBe(200);
  const setCookie = r.headers.get('set-cookie') ?? '';
  return { cookie: setCookie.split(';')[0], csrf: body.csrfToken, setCookie };
}

export interface SseMessage {
  event: string;
  id?: string;
  data: string;
}

/** An open SSE stream: messages as they come, and a way to wait for one that matches. */
export interface SseStream {
  status: number;
  headers: Headers;
  messages: SseMessage[];
  /** Raw text received, comments (heartbeats) included. */
  text(): string;
  waitFor(pred: (m: SseMessage) => boolean, timeoutMs?: number): Promise<SseMessage>;
  ended: Promise<void>;
  close(): void;
}

/**
 * Opens a Server-Sent Events stream over node:http on its own connection (no agent), so that
 * close() ends exactly that connection: fetch's pool may open a spare one after an abort, which
 * the server then waits for at shutdown.
 */
export async function openSse(url: string, headers: Record<string, string>): Promise<SseStream> {
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const req = http.get(url, { agent: false, headers: { accept: 'text/event-stream', ...headers } }, resolve);
    req.on('error', reject);
  });
  const messages: SseMessage[] = [];
  let raw = '';
  let buf = '';
  let done = false;
  const waiters: Array<() => void> = [];
  const wake = () => {
    for (const w of waiters.splice(0)) w();
  };
  res.setEncoding('utf8');
  res.on('data', (text: string) => {
    raw += text;
    buf += text;
    let at: number;
    while ((at = buf.indexOf('\n\n')) !== -1) {
      const block = buf.slice(0, at);
      buf = buf.slice(at + 2);
      const m: SseMessage = { event: 'message', data: '' };
      let hasData = false;
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon === -1 ? line : line.slice(0, colon);
        const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') m.event = value;
        else if (field === 'id') m.id = value;
        else if (field === 'data') (m.data += (hasData ? '\n' : '') + value), (hasData = true);
      }
      if (hasData) messages.push(m);
    }
    wake();
  });
  const ended = new Promise<void>((resolve) => {
    const end = () => {
      done = true;
      wake();
      resolve();
    };
    res.on('end', end);
    res.on('close', end);
    res.on('error', end);
  });
  const headersOut = new Headers();
  for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') headersOut.set(k, v);
  return {
    status: res.statusCode ?? 0,
    headers: headersOut,
    messages,
    text: () => raw,
    ended,
    close: () => res.destroy(),
    async waitFor(pred, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = messages.find(pred);
        if (hit) return hit;
        if (done) throw new Error(`stream ended without the message; got ${JSON.stringify(messages).slice(0, 500)}`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no such message within ${timeoutMs} ms; got ${JSON.stringify(messages).slice(0, 500)}`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          waiters.push(() => (clearTimeout(t), resolve()));
        });
      }
    },
  };
}

/** The events of every `events` message so far, in order. */
export function liveRows(s: SseStream): Array<{ id: number; duplicate: boolean; event: Record<string, any> }> {
  return s.messages.filter((m) => m.event === 'events').flatMap((m) => JSON.parse(m.data));
}

/**
 * The processing steps of the console tests: enrichment, then a stand-in for a bug in processing: while
 * `broken` is true, events whose properties say `poison: true` fail (and become dead letters).
 */
export function poisonableSteps(): { steps: EventStep[]; fix(): void; breakAgain(): void } {
  let broken = true;
  return {
    steps: [
      ...createEventSteps({ ipMode: 'keep' }),
      {
        name: 'check',
        run(line) {
          if (broken && (line.e.properties as Record<string, unknown> | undefined)?.poison === true) throw new Error('poisoned by the test');
        },
      },
    ],
    fix: () => void (broken = false),
    breakAgain: () => void (broken = true),
  };
}
