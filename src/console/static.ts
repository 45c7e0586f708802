// The console's files: GET / (index.html, revalidated each time) and one exact route per built asset
// (hashed names, cached for a year). Read once at start into memory (tens of KB), gzip'd once. No
// wildcard route: any other path keeps the JSON 404. The files are built by `npm run build`
// (console/build.mjs, run by the root `npm install`) into dist/ui/.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SoluteError } from '../errors.js';

/** src/console and dist/console are both two levels below the package root. */
export const DEFAULT_ASSETS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/ui');

/** Everything the page loads comes from this origin; no inline script or style; not framable. */
export const CSP = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'";

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.map': 'application/json; charset=utf-8',
};

interface File {
  body: Buffer;
  gzip: Buffer | null;
  type: string;
  etag: string;
  cache: string;
}

function load(file: string, cache: string): File {
  const body = fs.readFileSync(file);
  const type = TYPES[path.extname(file)] ?? 'application/octet-stream';
  const gzip = body.length > 1024 && !type.startsWith('image/png') ? zlib.gzipSync(body, { level: 9 }) : null;
  return { body, gzip, type, etag: `"${crypto.createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`, cache };
}

function send(req: FastifyRequest, reply: FastifyReply, f: File) {
  reply
    .header('content-type', f.type)
    .header('cache-control', f.cache)
    .header('etag', f.etag)
    .header('vary', 'accept-encoding')
    .header('content-security-policy', CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY');
  if (req.headers['if-none-match'] === f.etag) return reply.code(304).send();
  if (f.gzip !== null && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) {
    return reply.header('content-encoding', 'gzip').send(f.gzip);
  }
  return reply.send(f.body);
}

/** Registers the console's files; without a build, GET / says how to build it (404 in the API's error format). */
export function staticRoutes(app: FastifyInstance, assetsDir: string): { built: boolean } {
  const index = path.join(assetsDir, 'index.html');
  const hide = { schema: { hide: true } };
  if (!fs.existsSync(index)) {
    app.get('/', hide, async () => {
      throw new SoluteError('SOL_ERR_NOT_FOUND', ['the console is not built in this installation: run `npm run build` (the root `npm install` does)']);
    });
    return { built: false };
  }
  const page = load(index, 'no-cache');
  app.get('/', hide, (req, reply) => send(req, reply, page));
  const assets = path.join(assetsDir, 'assets');
  for (const name of fs.existsSync(assets) ? fs.readdirSync(assets) : []) {
    if (!/^[\w.-]+$/.test(name) || !fs.statSync(path.join(assets, name)).isFile()) continue;
    const f = load(path.join(assets, name), 'public, max-age=31536000, immutable');
    app.get(`/assets/${name}`, hide, (req, reply) => send(req, reply, f));
  }
  return { built: true };
}
