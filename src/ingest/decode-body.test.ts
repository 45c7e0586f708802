import { describe, expect, it } from 'vitest';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import type { FastifyRequest } from 'fastify';
import { decodingJsonParser } from './decode-body.js';

const parseJson = (_req: FastifyRequest, body: string, done: (err: Error | null, body?: unknown) => void) => {
  try {
    done(null, JSON.parse(body));
  } catch (err) {
    done(err as Error);
  }
};

function run(limit: number, body: Buffer, encoding: string, chunk = 16 * 1024): Promise<{ err: Error | null; body: unknown; decoded: number; readRaw: number }> {
  return new Promise((resolve) => {
    let decoded = -1;
    let readRaw = 0;
    const chunks: Buffer[] = [];
    for (let off = 0; off < body.length; off += chunk) chunks.push(body.subarray(off, off + chunk));
    const payload = Readable.from(chunks);
    payload.on('data', (c: Buffer) => (readRaw += c.length));
    const parse = decodingJsonParser(limit, parseJson, (n) => (decoded = n));
    const req = { headers: { 'content-encoding': encoding } } as unknown as FastifyRequest;
    parse(req, payload, (err, parsed) => setImmediate(() => resolve({ err, body: parsed, decoded, readRaw })));
  });
}

describe('decodingJsonParser', () => {
  it('decodes gzip and deflate', async () => {
    expect((await run(1024, zlib.gzipSync('{"a":1}'), 'gzip')).body).toEqual({ a: 1 });
    expect((await run(1024, zlib.deflateSync('{"a":1}'), 'deflate')).body).toEqual({ a: 1 });
    expect((await run(1024, Buffer.from('{"a":1}'), '')).body).toEqual({ a: 1 });
  });

  it('stops inflating a bomb at the limit: at most the limit plus one zlib chunk is inflated', async () => {
    const limit = 64 * 1024;
    const bomb = zlib.gzipSync(Buffer.alloc(256 * 1024 * 1024)); // ~256 KB -> 256 MiB
    const r = await run(limit, bomb, 'gzip', 1024);
    expect((r.err as { code?: string }).code).toBe('SOL_ERR_BODY_TOO_LARGE');
    expect(r.decoded).toBeGreaterThan(limit);
    expect(r.decoded).toBeLessThanOrEqual(limit + 64 * 1024);
  });

  it('counts the wire bytes too (an endless stream of empty deflate blocks)', async () => {
    const r = await run(1024, Buffer.concat([zlib.gzipSync(''), zlib.gzipSync(''), ...Array.from({ length: 100 }, () => zlib.gzipSync(''))]), 'gzip', 16);
    expect((r.err as { code?: string }).code).toBe('SOL_ERR_BODY_TOO_LARGE');
  });
});
