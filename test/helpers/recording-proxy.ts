// A real HTTP proxy in front of a real Solute, for SDK tests: it forwards every request as it is and
// records what reached it (preflights and keepalive requests sent after a page is gone included, which
// the browser does not report), and can answer in Solute's place for a while (a 503, a 413, a dropped
// connection) to show how a client retries. What it forwards is answered by Solute itself.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Hit {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  at: number;
  /** The status the client got (Solute's, or the one the proxy answered with). */
  status?: number;
  /** True when the proxy answered instead of Solute. */
  refused?: boolean;
}

export interface Refusal {
  status: number;
  headers?: Record<string, string>;
  /** Only requests this returns true for are refused (default: POSTs). */
  match?: (hit: Hit) => boolean;
}

export interface RecordingProxy {
  url: string;
  hits: Hit[];
  /** Answers the next `count` matching requests itself (Infinity: until `pass()`); status 0 drops the connection. */
  refuse(count: number, refusal: Refusal): void;
  pass(): void;
  /** The events of every POST body seen, with the hit they came in. */
  sentEvents(from?: number): Array<{ event: Record<string, any>; hit: Hit }>;
  close(): Promise<void>;
}

export async function recordingProxy(target: string): Promise<RecordingProxy> {
  const t = new URL(target);
  const hits: Hit[] = [];
  let refusing = 0;
  let refusal: Refusal | undefined;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const hit: Hit = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
      hits.push(hit);
      const match = refusal?.match ?? ((h: Hit) => h.method === 'POST');
      if (refusing > 0 && refusal && match(hit)) {
        refusing--;
        hit.refused = true;
        hit.status = refusal.status;
        if (refusal.status === 0) return void req.socket.destroy();
        // Solute's CORS headers, so that a browser lets the page read the refusal.
        res
          .writeHead(refusal.status, {
            'content-type': 'application/json',
            'access-control-allow-origin': '*',
            'access-control-expose-headers': 'Retry-After',
            ...refusal.headers,
          })
          .end(JSON.stringify({ success: false, code: 'SOL_ERR_TEST_PROXY', message: `refused by the test proxy (${refusal.status})` }));
        return;
      }
      const up = http.request({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers: { ...req.headers, host: t.host } }, (ur) => {
        hit.status = ur.statusCode;
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      });
      // Solute is down: the client sees its connection dropped, as it would without the proxy.
      up.on('error', () => {
        hit.status = 0;
        res.destroy();
      });
      up.end(Buffer.concat(chunks));
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits,
    refuse(count, r) {
      refusing = count;
      refusal = r;
    },
    pass() {
      refusing = 0;
    },
    sentEvents(from = 0) {
      const out: Array<{ event: Record<string, any>; hit: Hit }> = [];
      for (const hit of hits.slice(from)) {
        if (hit.method !== 'POST') continue;
        try {
          for (const event of JSON.parse(hit.body).batch ?? []) out.push({ event, hit });
        } catch {
          // not a batch
        }
      }
      return out;
    },
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
