// /v1 bodies: JSON under any of three Content-Types, gzip and deflate, limits on decoded bytes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import zlib from 'node:zlib';
import { randomUUID } from 'node:crypto';
import { getEvents, makeEvent, postEvents, startTestServer, type TestServer } from '../helpers/solute.js';
import { expectError, waitStored } from '../helpers/assertions.js';
import { basic, postV1 } from '../helpers/v1.js';

const MiB = 1024 * 1024;

/** A /v1/batch body of exactly `bytes` bytes (JSON padded with trailing spaces). */
function paddedBatch(bytes: number, messageId = `m_${randomUUID()}`): string {
  const json = JSON.stringify({ batch: [{ type: 'track', event: 'Padded', userId: 'u', messageId }] });
  return json + ' '.repeat(bytes - Buffer.byteLength(json));
}

describe('/v1 bodies', () => {
  let s: TestServer;
  let auth: Record<string, string>;
  beforeAll(async () => {
    s = await startTestServer();
    auth = { authorization: basic(s.writeKey) };
  });
  afterAll(() => s.close());

  const post = (body: unknown, headers: Record<string, string> = {}, path = '/v1/batch') => postV1(s.url, path, body, { ...auth, ...headers });
  const one = (messageId: string) => ({ batch: [{ type: 'track', event: 'Body', userId: 'u', messageId }] });
  const isStored = async (messageId: string) => {
    await waitStored(s.url);
    return (await getEvents(s.url, s.secretKey, { messageId })).body.events.length === 1;
  };

  describe('Content-Type', () => {
    it.each(['application/json', 'application/json; charset=utf-8', 'text/plain', 'text/plain;charset=UTF-8', 'application/x-www-form-urlencoded'])(
      '%s: the body is read as JSON',
      async (type) => {
        const messageId = `m_${randomUUID()}`;
        const r = await post(one(messageId), { 'content-type': type });
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        expect(await isStored(messageId)).toBe(true);
      },
    );

    it.each(['text/xml', 'multipart/form-data; boundary=x', 'application/octet-stream'])('%s: 415 SOL_ERR_BODY_UNSUPPORTED_MEDIA_TYPE', async (type) => {
      expectError(await post(one('m'), { 'content-type': type }), 415, 'SOL_ERR_BODY_UNSUPPORTED_MEDIA_TYPE');
    });

    it('POST /api/events still answers 415 to text/plain and form bodies', async () => {
      for (const type of ['text/plain', 'application/x-www-form-urlencoded']) {
        const r = await postEvents(s.url, s.writeKey, { batch: [makeEvent()], sentAt: new Date().toISOString() }, { 'content-type': type });
        expectError(r, 415, 'SOL_ERR_BODY_UNSUPPORTED_MEDIA_TYPE');
      }
    });
  });

  describe('Content-Encoding', () => {
    it.each([
      ['gzip', (b: Buffer) => zlib.gzipSync(b)],
      ['x-gzip', (b: Buffer) => zlib.gzipSync(b)],
      ['GZIP', (b: Buffer) => zlib.gzipSync(b)],
      ['deflate', (b: Buffer) => zlib.deflateSync(b)],
      ['identity', (b: Buffer) => b],
    ])('%s is decoded', async (encoding, encode) => {
      const messageId = `m_${randomUUID()}`;
      // As RudderStack node sends it: gzip labelled application/x-www-form-urlencoded.
      const r = await post(encode(Buffer.from(JSON.stringify(one(messageId)))), { 'content-type': 'application/x-www-form-urlencoded', 'content-encoding': encoding });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(await isStored(messageId)).toBe(true);
    });

    it.each(['br', 'compress', 'zstd', 'gzip, gzip', 'nonsense'])('%s: 415 SOL_ERR_BODY_UNSUPPORTED_ENCODING', async (encoding) => {
      const r = await post(Buffer.from(JSON.stringify(one('m'))), { 'content-encoding': encoding });
      expectError(r, 415, 'SOL_ERR_BODY_UNSUPPORTED_ENCODING');
      expect(r.body.message).toContain(encoding);
    });

    it('a body that is not the announced encoding: 400 SOL_ERR_BODY_INVALID_ENCODING', async () => {
      expectError(await post(Buffer.from(JSON.stringify(one('m'))), { 'content-encoding': 'gzip' }), 400, 'SOL_ERR_BODY_INVALID_ENCODING');
      expectError(await post(zlib.gzipSync('{}').subarray(0, 12), { 'content-encoding': 'gzip' }), 400, 'SOL_ERR_BODY_INVALID_ENCODING');
    });

    it('gzip of invalid JSON: 400 SOL_ERR_BODY_INVALID_JSON', async () => {
      expectError(await post(zlib.gzipSync('{"batch": ['), { 'content-encoding': 'gzip' }), 400, 'SOL_ERR_BODY_INVALID_JSON');
    });
  });

  describe('size limits apply to decoded bytes', () => {
    it('1 MiB decoded is read; one byte more is 413, plain or compressed', async () => {
      const id = `m_${randomUUID()}`;
      expect((await post(paddedBatch(MiB, id))).status).toBe(200);
      expect((await post(zlib.gzipSync(paddedBatch(MiB)), { 'content-encoding': 'gzip' })).status).toBe(200);
      const over = paddedBatch(MiB + 1);
      expectError(await post(over), 413, 'SOL_ERR_BODY_TOO_LARGE');
      const gz = zlib.gzipSync(over);
      expect(gz.length).toBeLessThan(10_000); // tiny on the wire, too large decoded
      const r = await post(gz, { 'content-encoding': 'gzip' });
      expectError(r, 413, 'SOL_ERR_BODY_TOO_LARGE');
      expect(r.body.message).toContain(String(MiB));
      expectError(await post(zlib.deflateSync(over), { 'content-encoding': 'deflate' }), 413, 'SOL_ERR_BODY_TOO_LARGE');
      expect(await isStored(id)).toBe(true);
    });

    it('a gzip bomb (1 MB inflating to 1 GiB) gets 413 without being inflated', async () => {
      // 100 gzip members of 10 MiB of zeros each: ~1 MB on the wire, 1000 MiB decoded (Node inflates
      // concatenated members). Inflating it all takes seconds; stopping at the limit takes milliseconds.
      const member = zlib.gzipSync(Buffer.alloc(10 * MiB), { level: 9 });
      const bomb = Buffer.concat(Array.from({ length: 100 }, () => member));
      expect(bomb.length).toBeLessThan(MiB);
      const start = performance.now();
      const r = await post(bomb, { 'content-encoding': 'gzip' });
      const ms = performance.now() - start;
      expectError(r, 413, 'SOL_ERR_BODY_TOO_LARGE');
      expect(ms).toBeLessThan(1500);
      // and the server is still fine
      const messageId = `m_${randomUUID()}`;
      expect((await post(one(messageId))).status).toBe(200);
    });

    it('a compressed body over the limit on the wire is 413 from its Content-Length', async () => {
      const r = await post(Buffer.alloc(MiB + 10), { 'content-encoding': 'gzip' });
      expectError(r, 413, 'SOL_ERR_BODY_TOO_LARGE');
    });

    it('a chunked gzip body (no Content-Length) that inflates past the limit is 413', async () => {
      const gz = zlib.gzipSync(paddedBatch(2 * MiB));
      const u = new URL('/v1/batch', s.url);
      const status = await new Promise<number>((resolve, reject) => {
        const req = http.request(
          { hostname: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { ...auth, 'content-type': 'application/json', 'content-encoding': 'gzip', 'transfer-encoding': 'chunked' } },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        for (let off = 0; off < gz.length; off += 512) req.write(gz.subarray(off, off + 512));
        req.end();
      });
      expect(status).toBe(413);
    });

    it('1 MiB is the limit of a single-event route too', async () => {
      const r = await post({ event: 'Big', userId: 'u', pad: 'x'.repeat(MiB) }, {}, '/v1/track');
      expectError(r, 413, 'SOL_ERR_BODY_TOO_LARGE');
    });
  });
});
