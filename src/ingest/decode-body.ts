// The /v1 routes' body reader: JSON whatever the Content-Type says, gzip or deflate, with the body
// limit applied to the DECODED bytes and decoding stopped as soon as it is passed (a 1 MB gzip bomb
// that would inflate to 1 GB costs at most the limit plus one zlib chunk of inflating).
// Also the rules both ingest routes share on encodings and charsets: POST /api/events decodes nothing
// and says so (415) rather than parsing compressed bytes as JSON; a body labelled with a charset other
// than UTF-8 is refused (415) rather than read as UTF-8 and stored garbled.
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';
import type { FastifyRequest } from 'fastify';
import { SoluteError } from '../errors.js';

type Done = (err: Error | null, body?: unknown) => void;
type JsonParser = (req: FastifyRequest, body: string, done: Done) => void;

/** Content-Encoding values taken, lower-cased, to their zlib decoder (null: none). */
const DECODERS: Record<string, (() => zlib.Gunzip | zlib.Inflate) | null> = {
  '': null,
  identity: null,
  gzip: () => zlib.createGunzip(),
  'x-gzip': () => zlib.createGunzip(),
  deflate: () => zlib.createInflate(),
};

/**
 * A Fastify content-type parser (the raw-stream form, so Fastify does not read the body itself):
 * reads at most `limit` bytes off the wire and at most `limit` decoded bytes, then hands the text to
 * Fastify's own JSON parser (secure-json-parse: `__proto__` refused). `decoded` (tests) reports how
 * many bytes were inflated.
 */
export function decodingJsonParser(limit: number, parseJson: JsonParser, onDecoded?: (bytes: number) => void) {
  return function parseDecoded(req: FastifyRequest, payload: Readable, done: Done): void {
    const header = req.headers['content-encoding'];
    const encoding = (Array.isArray(header) ? header.join(',') : (header ?? '')).trim().toLowerCase();
    if (!Object.hasOwn(DECODERS, encoding)) {
      done(new SoluteError('SOL_ERR_BODY_UNSUPPORTED_ENCODING', [JSON.stringify(encoding.slice(0, 100)), 'send gzip, deflate or no encoding']));
      return;
    }
    const charset = unsupportedCharset(req);
    if (charset) {
      done(charset);
      return;
    }
    if (Number(req.headers['content-length']) > limit) {
      done(new SoluteError('SOL_ERR_BODY_TOO_LARGE', [limit]));
      return;
    }
    const make = DECODERS[encoding];
    const decoder = make ? make() : null;
    const chunks: Buffer[] = [];
    let raw = 0;
    let decoded = 0;
    let settled = false;

    const finish = (err: Error | null): void => {
      if (settled) return;
      settled = true;
      payload.removeListener('data', onRaw);
      payload.removeListener('end', onRawEnd);
      payload.removeListener('error', finish);
      if (decoder) {
        decoder.removeAllListeners();
        decoder.on('error', () => {}); // a late error after destroy must not crash the process
        decoder.destroy();
      }
      onDecoded?.(decoded);
      if (err) {
        done(err);
        return;
      }
      const text = chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks, decoded).toString('utf8');
      parseJson(req, text, done);
    };
    const onDecodedChunk = (chunk: Buffer): void => {
      decoded += chunk.length;
      if (decoded > limit) {
        finish(new SoluteError('SOL_ERR_BODY_TOO_LARGE', [limit]));
        return;
      }
      chunks.push(chunk);
    };
    function onRaw(chunk: Buffer): void {
      raw += chunk.length;
      if (raw > limit) {
        finish(new SoluteError('SOL_ERR_BODY_TOO_LARGE', [limit]));
        return;
      }
      if (decoder === null) {
        onDecodedChunk(chunk);
      } else if (!decoder.write(chunk)) {
        payload.pause();
        decoder.once('drain', () => payload.resume());
      }
    }
    function onRawEnd(): void {
      if (decoder === null) finish(null);
      else decoder.end();
    }

    if (decoder) {
      decoder.on('data', onDecodedChunk);
      decoder.on('end', () => finish(null));
      decoder.on('error', () => finish(new SoluteError('SOL_ERR_BODY_INVALID_ENCODING', [encoding])));
    }
    payload.on('data', onRaw);
    payload.on('end', onRawEnd);
    payload.on('error', finish);
    payload.resume();
  };
}

/** JSON is UTF-8 (RFC 8259); US-ASCII is a subset of it. Absent: UTF-8. */
const UTF8_CHARSETS = new Set(['utf-8', 'utf8', 'us-ascii']);

/** A 415 when the Content-Type names a charset other than UTF-8 (e.g. utf-16, iso-8859-1); else null. */
export function unsupportedCharset(req: FastifyRequest): SoluteError | null {
  const type = req.headers['content-type'];
  if (type === undefined) return null;
  const m = /;\s*charset\s*=\s*(?:"([^"]*)"|([^;\s]*))/i.exec(type);
  if (m === null) return null;
  const charset = (m[1] ?? m[2]).toLowerCase();
  return UTF8_CHARSETS.has(charset) ? null : new SoluteError('SOL_ERR_BODY_UNSUPPORTED_CHARSET', [JSON.stringify(charset.slice(0, 40))]);
}

/**
 * POST /api/events's preParsing hook: that route reads the body as it comes, so a compressed body
 * (any Content-Encoding but identity) is refused with 415 before a byte of it is read, instead of a
 * 400 "not JSON" on binary bytes; and so is a charset other than UTF-8.
 */
export async function plainJsonOnly(req: FastifyRequest): Promise<void> {
  const header = req.headers['content-encoding'];
  const encoding = (Array.isArray(header) ? header.join(',') : (header ?? '')).trim().toLowerCase();
  if (encoding !== '' && encoding !== 'identity') {
    throw new SoluteError('SOL_ERR_BODY_UNSUPPORTED_ENCODING', [
      JSON.stringify(encoding.slice(0, 100)),
      'POST /api/events takes uncompressed JSON only (the /v1 routes take gzip and deflate)',
    ]);
  }
  const charset = unsupportedCharset(req);
  if (charset) throw charset;
}

/**
 * A content-type parser that reads a body it does not need and throws it away: at most `limit`
 * bytes off the wire (413 past it, or at once by Content-Length), nothing kept, nothing parsed.
 */
export function discardBody(limit: number) {
  return function discard(req: FastifyRequest, payload: Readable, done: Done): void {
    if (Number(req.headers['content-length']) > limit) {
      done(new SoluteError('SOL_ERR_BODY_TOO_LARGE', [limit]));
      return;
    }
    let raw = 0;
    let settled = false;
    const finish = (err: Error | null): void => {
      if (settled) return;
      settled = true;
      payload.removeListener('data', onData);
      payload.removeListener('end', onEnd);
      payload.removeListener('error', finish);
      done(err, undefined);
    };
    const onData = (chunk: Buffer): void => {
      raw += chunk.length;
      if (raw > limit) finish(new SoluteError('SOL_ERR_BODY_TOO_LARGE', [limit]));
    };
    const onEnd = (): void => finish(null);
    payload.on('data', onData);
    payload.on('end', onEnd);
    payload.on('error', finish);
    payload.resume();
  };
}
