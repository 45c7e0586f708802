// Hostile input (issue 4): one named case per item of the issue, over real HTTP against a real server.
// Every answer is a clear 4xx (or a 200 with the input stored as harmless data), never a 5xx, a crash
// or a hang; stored rows are read back through GET /api/events and compared with what was sent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import net from 'node:net';
import zlib from 'node:zlib';
import { randomUUID } from 'node:crypto';
import { getEvents, makeEvent, readAnswer, startTestServer, type Answer, type TestServer } from '../helpers/solute.js';
import { expectError, expectNoLeak, waitStored, withoutLoopbackIp } from '../helpers/assertions.js';
import { MAX_EVENT_DEPTH } from '../../src/ingest/check/check-event.js';
import { MAX_V1_BATCH_EVENTS } from '../../src/ingest/segment-body.js';

const MiB = 1024 * 1024;
const HOUR = 3_600_000;
const now = () => new Date().toISOString();
const mid = (tag: string) => `${tag}_${randomUUID()}`;

/** A raw HTTP exchange: the bytes as written, the answer's bytes as read (until the server closes or `ms`). */
function rawHttp(url: string, request: Buffer | string, ms = 3000): Promise<string> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const sock = net.connect(Number(u.port), u.hostname, () => sock.write(request));
    const done = () => resolve(Buffer.concat(chunks).toString('latin1'));
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('close', done);
    sock.on('error', () => undefined);
    setTimeout(() => sock.destroy(), ms).unref();
  });
}

/** Status line, headers (lower-cased names, all values) and JSON body of a raw answer. */
function parseRaw(text: string): { status: number; headers: Array<[string, string]>; body: any } {
  const end = text.indexOf('\r\n\r\n');
  const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
  const headers = lines.map((l): [string, string] => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]);
  const bodyText = text.slice(end + 4);
  let body: unknown = bodyText;
  try {
    body = JSON.parse(bodyText);
  } catch {
    // left as text
  }
  return { status: Number(statusLine.split(' ')[1]), headers, body };
}

/** A POST with `Transfer-Encoding: chunked` (no Content-Length), written until the server answers. */
function postChunked(url: string, path: string, headers: Record<string, string>, body: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const u = new URL(path, url);
    let answered = false;
    const req = http.request({ hostname: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { ...headers, 'transfer-encoding': 'chunked' } }, (res) => {
      answered = true;
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: new Headers(res.headers as Record<string, string>), body: JSON.parse(text) }));
    });
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    let off = 0;
    const more = (): void => {
      while (off < body.length && !answered && !req.destroyed) {
        const chunk = body.subarray(off, off + 64 * 1024);
        off += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', more);
      }
      if (!answered) req.end();
    };
    more();
  });
}

const nest = (levels: number, leaf: unknown = 'leaf'): unknown => {
  let v = leaf;
  for (let i = 0; i < levels; i++) v = [v];
  return v;
};

describe('hostile input', () => {
  let s: TestServer;
  const answers: Answer[] = [];
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(async () => {
    // Whatever was sent, no answer was a 5xx.
    for (const a of answers) expect(a.status, JSON.stringify(a.body)).toBeLessThan(500);
    expect(answers.length).toBeGreaterThan(50);
    await s.close();
  });

  /** POST /api/events; body: an object (JSON-encoded), or a string / bytes sent as they are. */
  async function post(body: unknown, headers: Record<string, string> = {}, path = '/api/events'): Promise<Answer> {
    const payload = typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body);
    const r = await readAnswer(await fetch(s.url + path, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': s.writeKey, ...headers }, body: payload }));
    answers.push(r);
    return r;
  }
  const v1 = (body: unknown, headers: Record<string, string> = {}, path = '/v1/batch') => post(body, headers, path);
  const batchOf = (...events: unknown[]) => ({ batch: events, sentAt: now() });
  /** The stored event with this messageId (waits for the processor). */
  async function stored(messageId: string): Promise<Record<string, any>> {
    await waitStored(s.url);
    const r = await getEvents(s.url, s.secretKey, { messageId });
    expect(r.status).toBe(200);
    expect(r.body.events, `events with messageId ${JSON.stringify(messageId)}`).toHaveLength(1);
    return r.body.events[0];
  }
  /** The stored event equals what was sent, plus the four fields Solute sets. */
  function expectIntact(row: Record<string, any>, sent: Record<string, unknown>): void {
    const { timestamp: _t, originalTimestamp, sentAt: _s, receivedAt, ...rest } = withoutLoopbackIp(row, sent);
    const { timestamp, ...sentRest } = sent;
    expect(rest).toEqual(sentRest);
    expect(originalTimestamp).toBe(timestamp);
    expect(typeof receivedAt).toBe('string');
  }
  /** A one-event answer that refused the event with a message containing `words`. */
  function expectEventRefused(r: Answer, words: string, route: 'api' | 'v1' = 'api'): void {
    expect(r.status, JSON.stringify(r.body)).toBe(route === 'api' ? 400 : 200);
    if (route === 'api') expect(r.body.code).toBe('SOL_ERR_BATCH_NO_VALID_EVENTS');
    expect(r.body).toMatchObject({ success: false, processed: 0, failed: 1 });
    expect(r.body.errors).toEqual([{ index: 0, code: 'SOL_ERR_EVENT_INVALID', error: expect.stringContaining(words) }]);
    expectNoLeak(r.body);
  }

  describe('malformed and truncated JSON', () => {
    const good = JSON.stringify(batchOf(makeEvent()));
    it.each([
      ['a missing value', '{"batch": [}'],
      ['a trailing comma', good.slice(0, -1) + ',}'],
      ['single quotes', "{'batch': []}"],
      ['a raw control character in a string', good.replace('Button Clicked', 'Button\u0001Clicked')],
      ['truncated in a string', good.slice(0, good.indexOf('Button') + 3)],
      ['truncated after a key', good.slice(0, good.indexOf('"batch"') + 8)],
      ['truncated deep nesting (1 MiB of [)', '{"batch": [' + '['.repeat(MiB - 20)],
      ['a lone BOM', '\ufeff'],
      ['two JSON values', good + good],
    ])('%s: 400 SOL_ERR_BODY_INVALID_JSON on /api/events and /v1', async (_name, text) => {
      expectError(await post(text), 400, 'SOL_ERR_BODY_INVALID_JSON');
      expectError(await v1(text), 400, 'SOL_ERR_BODY_INVALID_JSON');
    });

    it('an empty body: 400 SOL_ERR_BODY_INVALID_JSON', async () => {
      expectError(await post(''), 400, 'SOL_ERR_BODY_INVALID_JSON');
      expectError(await v1(''), 400, 'SOL_ERR_BODY_INVALID_JSON');
    });

    it('truncated gzip on /v1: 400 SOL_ERR_BODY_INVALID_ENCODING', async () => {
      const gz = zlib.gzipSync(good);
      expectError(await v1(gz.subarray(0, gz.length - 10), { 'content-encoding': 'gzip' }), 400, 'SOL_ERR_BODY_INVALID_ENCODING');
    });
  });

  describe('wrong or odd content types and charsets', () => {
    it.each(['text/xml', 'application/octet-stream', 'multipart/form-data; boundary=x', 'application/json-patch+json', 'application/json, text/plain'])(
      '%s: 415 SOL_ERR_BODY_UNSUPPORTED_MEDIA_TYPE on both routes',
      async (type) => {
        expectError(await post(batchOf(makeEvent()), { 'content-type': type }), 415, 'SOL_ERR_BODY_UNSUPPORTED_MEDIA_TYPE');
        expectError(await v1(batchOf(makeEvent()), { 'content-type': type }), 415, 'SOL_ERR_BODY_UNSUPPORTED_MEDIA_TYPE');
      },
    );

    it('no Content-Type at all: 415 on both routes', async () => {
      for (const path of ['/api/events', '/v1/batch']) {
        const raw = await rawHttp(
          s.url,
          `POST ${path} HTTP/1.1\r\nHost: x\r\nX-Api-Key: ${s.writeKey}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`,
        );
        const r = parseRaw(raw);
        expect(r.status).toBe(415);
        expect(r.body.code).toBe('SOL_ERR_BODY_UNSUPPORTED_MEDIA_TYPE');
      }
    });

    it.each(['APPLICATION/JSON', 'application/json; charset="UTF-8"', 'application/json;charset=utf8', 'application/json; charset=us-ascii'])(
      '%s: accepted and stored',
      async (type) => {
        const e = makeEvent({ messageId: mid('ct') });
        expect((await post(batchOf(e), { 'content-type': type })).status).toBe(200);
        expectIntact(await stored(e.messageId as string), e);
      },
    );

    it.each([
      ['utf-16', (t: string) => Buffer.from('\ufeff' + t, 'utf16le')],
      ['UTF-16LE', (t: string) => Buffer.from(t, 'utf16le')],
      ['iso-8859-1', (t: string) => Buffer.from(t, 'latin1')],
      ['"windows-1252"', (t: string) => Buffer.from(t, 'latin1')],
    ])('charset=%s: 415 SOL_ERR_BODY_UNSUPPORTED_CHARSET on both routes, nothing stored garbled', async (charset, encode) => {
      const e = makeEvent({ messageId: mid('cs'), properties: { city: 'Zürich' } });
      const bytes = encode(JSON.stringify(batchOf(e)));
      const r = await post(bytes, { 'content-type': `application/json; charset=${charset}` });
      expectError(r, 415, 'SOL_ERR_BODY_UNSUPPORTED_CHARSET');
      expect(r.body.message).toContain(charset.replace(/"/g, '').toLowerCase());
      expectError(await v1(bytes, { 'content-type': `text/plain; charset=${charset}` }), 415, 'SOL_ERR_BODY_UNSUPPORTED_CHARSET');
      await waitStored(s.url);
      expect((await getEvents(s.url, s.secretKey, { messageId: e.messageId as string })).body.events).toEqual([]);
    });
  });

  describe('bodies over the limit', () => {
    const big = () => Buffer.from(JSON.stringify(batchOf(makeEvent({ properties: { pad: 'x'.repeat(MiB + 10) } }))));

    it('with Content-Length: 413 SOL_ERR_BODY_TOO_LARGE on both routes', async () => {
      const body = big();
      for (const path of ['/api/events', '/v1/batch']) {
        const r = await post(body, {}, path);
        expectError(r, 413, 'SOL_ERR_BODY_TOO_LARGE');
        expect(r.body.message).toContain(String(MiB));
      }
    });

    it('chunked, without Content-Length: 413 SOL_ERR_BODY_TOO_LARGE on both routes', async () => {
      for (const path of ['/api/events', '/v1/batch']) {
        const r = await postChunked(s.url, path, { 'content-type': 'application/json', 'x-api-key': s.writeKey }, big());
        answers.push(r);
        expectError(r, 413, 'SOL_ERR_BODY_TOO_LARGE');
      }
    });

    it('a Content-Length that promises more than the limit: 413 before the body is read', async () => {
      const raw = await rawHttp(s.url, `POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Api-Key: ${s.writeKey}\r\nContent-Length: ${10 * MiB}\r\n\r\n{`);
      const r = parseRaw(raw);
      expect(r.status).toBe(413);
      expect(r.body.code).toBe('SOL_ERR_BODY_TOO_LARGE');
    });
  });

  describe('compression bombs', () => {
    // 64 MiB of zeros, gzipped to ~64 KB.
    const bomb = zlib.gzipSync(Buffer.concat([Buffer.from('{"batch":[{"type":"track","event":"'), Buffer.alloc(64 * MiB, 'a'), Buffer.from('"}]}')]), { level: 9 });

    it('/v1: 413 SOL_ERR_BODY_TOO_LARGE, inflating stops at the limit', async () => {
      expect(bomb.length).toBeLessThan(MiB);
      const started = Date.now();
      const r = await v1(bomb, { 'content-encoding': 'gzip' });
      expectError(r, 413, 'SOL_ERR_BODY_TOO_LARGE');
      expect(Date.now() - started).toBeLessThan(5000); // inflating all 64 MiB would not hang, but it is not done
    });

    it.each(['gzip', 'deflate', 'br', 'x-gzip'])('/api/events with Content-Encoding: %s: 415 SOL_ERR_BODY_UNSUPPORTED_ENCODING (it decodes nothing)', async (encoding) => {
      const r = await post(encoding === 'deflate' ? zlib.deflateSync(JSON.stringify(batchOf(makeEvent()))) : bomb, { 'content-encoding': encoding });
      expectError(r, 415, 'SOL_ERR_BODY_UNSUPPORTED_ENCODING');
      expect(r.body.message).toContain(encoding);
      expect(r.body.message).toContain('/v1');
    });

    it('/api/events with Content-Encoding: identity is read as it is', async () => {
      expect((await post(batchOf(makeEvent()), { 'content-encoding': 'identity' })).status).toBe(200);
    });
  });

  describe(`deep nesting (at most ${MAX_EVENT_DEPTH} levels, checked without recursion)`, () => {
    it(`${MAX_EVENT_DEPTH} levels are stored intact; one more is refused naming the field, on both routes`, async () => {
      const ok = makeEvent({ messageId: mid('deep'), properties: { d: nest(MAX_EVENT_DEPTH - 2) } });
      expect((await post(batchOf(ok))).status).toBe(200);
      expectIntact(await stored(ok.messageId as string), ok);
      const over = makeEvent({ properties: { d: nest(MAX_EVENT_DEPTH - 1) } });
      expectEventRefused(await post(batchOf(over)), `\`properties\` nests deeper than ${MAX_EVENT_DEPTH} levels`);
      expectEventRefused(await v1(batchOf(over)), `nests deeper than ${MAX_EVENT_DEPTH}`, 'v1');
    });

    it('~500 000 levels in a 1 MiB body: refused per event, the server unharmed', async () => {
      const depth = 500_000;
      const text = JSON.stringify(batchOf(makeEvent({ properties: { d: '@' } }))).replace('"@"', '['.repeat(depth) + ']'.repeat(depth));
      expect(text.length).toBeLessThan(MiB + 1);
      expectEventRefused(await post(text), '`properties` nests deeper');
      expectEventRefused(await v1(text.replace('"sentAt"', '"x"')), '`properties` nests deeper', 'v1');
      // Outside the events (a top-level key of the body), nesting is never read: the event is stored.
      const e = makeEvent({ messageId: mid('deepTop') });
      const outside = JSON.stringify({ ...batchOf(e), extra: '@' }).replace('"@"', '{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000));
      expect((await post(outside)).status).toBe(200);
      expectIntact(await stored(e.messageId as string), e);
    });
  });

  describe('very long strings and very many properties', () => {
    it('a 20 000-character string (and a 5 000-character key) is stored intact', async () => {
      const e = makeEvent({ messageId: mid('long'), properties: { text: 'ł'.repeat(5_000) + 'x'.repeat(15_000), ['k'.repeat(5_000)]: 1 } });
      expect((await post(batchOf(e))).status).toBe(200);
      expectIntact(await stored(e.messageId as string), e);
    });

    it('a string past 32 KB: SOL_ERR_EVENT_TOO_LARGE for that event only', async () => {
      const r = await post(batchOf(makeEvent({ properties: { text: 'x'.repeat(600_000) } }), makeEvent()));
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ processed: 1, failed: 1 });
      expect(r.body.errors).toEqual([{ index: 0, code: 'SOL_ERR_EVENT_TOO_LARGE', error: expect.stringContaining('32768') }]);
    });

    it('2 000 properties are stored intact; 60 000 (a 1 MiB event) are refused as too large', async () => {
      const many = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`p${i}`, i]));
      const e = makeEvent({ messageId: mid('many'), properties: many(2000) });
      expect((await post(batchOf(e))).status).toBe(200);
      expectIntact(await stored(e.messageId as string), e);
      const r = await v1({ batch: [makeEvent({ properties: many(60_000) })] });
      expect(r.status).toBe(200);
      expect(r.body.errors).toEqual([{ index: 0, code: 'SOL_ERR_EVENT_TOO_LARGE', error: expect.any(String) }]);
    });

    it(`/v1: more than ${MAX_V1_BATCH_EVENTS} events in one request: 400 SOL_ERR_BATCH_TOO_LARGE (1 MiB of "0," is half a million)`, async () => {
      const r = await v1('{"batch":[' + '0,'.repeat(500_000) + '0]}');
      expectError(r, 400, 'SOL_ERR_BATCH_TOO_LARGE');
      expect(r.body.message).toContain(String(MAX_V1_BATCH_EVENTS));
      const at = await v1('{"batch":[' + '0,'.repeat(MAX_V1_BATCH_EVENTS - 1) + '0]}');
      expect(at.status).toBe(200);
      expect(at.body).toMatchObject({ processed: 0, failed: MAX_V1_BATCH_EVENTS });
    });
  });

  describe('__proto__, constructor and prototype keys (no prototype pollution anywhere)', () => {
    const P = (json: string) => JSON.parse(json) as Record<string, unknown>; // JSON.parse makes own keys, as the server does
    const cases: Array<[string, string, string]> = [
      ['__proto__ at the event top', '{"__proto__":{"polluted":"yes"}}', 'the event has a `__proto__` key'],
      ['__proto__ in properties', '{"properties":{"__proto__":{"polluted":"yes"}}}', '`properties` holds a `__proto__` key'],
      ['__proto__ deep in context, in an array', '{"context":{"a":[{"b":{"__proto__":{"polluted":"yes"}}}]}}', '`context` holds a `__proto__` key'],
      ['an escaped \\u005f_proto__', '{"traits":{"\\u005f_proto__":{"polluted":"yes"}}}', '`traits` holds a `__proto__` key'],
      ['constructor.prototype in properties', '{"properties":{"constructor":{"prototype":{"polluted":"yes"}}}}', '`properties` holds a `constructor.prototype` key'],
      ['constructor.prototype at the top', '{"constructor":{"prototype":{"polluted":"yes"}}}', 'the event has a `constructor.prototype` key'],
    ];

    it.each(cases)('%s: that event is refused by name, the rest of the batch stored, on both routes', async (_name, fields, words) => {
      const good = makeEvent({ messageId: mid('protoOk') });
      const text = `{"batch":[${JSON.stringify(good)},${JSON.stringify(makeEvent()).slice(0, -1)},${fields.slice(1)}],"sentAt":"${now()}"}`;
      expect(Object.keys(P(fields)).length).toBe(1); // the key is really there once parsed
      const r = await post(text);
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ processed: 1, failed: 1, errors: [{ index: 1, code: 'SOL_ERR_EVENT_INVALID', error: expect.stringContaining(words) }] });
      expect(r.body.errors[0].error).toContain('prototype pollution');
      const rv = await v1(text);
      expect(rv.body).toMatchObject({ failed: 1, errors: [{ index: 1, error: expect.stringContaining(words) }] });
      expectIntact(await stored(good.messageId as string), good);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(Object.prototype).not.toHaveProperty('polluted');
    });

    it('/v1: a __proto__ key in the batch context (merged into each event) or in a single-event body is refused per event', async () => {
      const text = `{"batch":[${JSON.stringify(makeEvent())}],"context":{"__proto__":{"polluted":"yes"}}}`;
      expectEventRefused(await v1(text), '`context` holds a `__proto__` key', 'v1');
      const single = JSON.stringify(makeEvent()).slice(0, -1) + ',"__proto__":{"polluted":"yes"}}';
      expectEventRefused(await v1(single, {}, '/v1/track'), 'the event has a `__proto__` key', 'v1');
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });

    it('a __proto__ key outside the events (the body top level) is ignored like any unknown key', async () => {
      const e = makeEvent({ messageId: mid('protoTop') });
      const text = `{"__proto__":{"polluted":"yes","batch":[]},"batch":[${JSON.stringify(e)}],"sentAt":"${now()}"}`;
      expect((await post(text)).status).toBe(200);
      expectIntact(await stored(e.messageId as string), e);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });

    it('plain `constructor`, `prototype` and `__proto__`-looking values are harmless data, stored intact', async () => {
      const e = makeEvent({
        messageId: mid('protoData'),
        event: '__proto__',
        userId: 'constructor',
        properties: { constructor: 'Car', prototype: { polluted: 'no' }, toString: 1, hasOwnProperty: 'x', note: '"__proto__": {}', proto__: 1 },
      });
      expect((await post(batchOf(e))).status).toBe(200);
      expectIntact(await stored(e.messageId as string), e);
      expect((await getEvents(s.url, s.secretKey, { event: '__proto__' })).body.events.map((x: { messageId: string }) => x.messageId)).toEqual([e.messageId]);
    });

    it('query strings and headers named __proto__ pollute nothing either', async () => {
      const r = await fetch(`${s.url}/api/events?__proto__[polluted]=yes&constructor[prototype][polluted]=yes`, { headers: { authorization: `Bearer ${s.secretKey}` } });
      expect(r.status).toBe(400);
      expect(((await r.json()) as { code: string }).code).toBe('SOL_ERR_QUERY_INVALID_PARAM');
      const raw = parseRaw(await rawHttp(s.url, `POST /api/events HTTP/1.1\r\nHost: x\r\n__proto__: polluted\r\nX-Api-Key: ${s.writeKey}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`));
      expect(raw.status).toBe(400);
      expect(raw.body.code).toBe('SOL_ERR_BATCH_MISSING');
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });
  });

  describe('lone surrogates and invalid UTF-8', () => {
    it('lone surrogates (escaped in the JSON) are stored as U+FFFD, in values and keys', async () => {
      const id = mid('surrogate');
      const text = JSON.stringify(batchOf(makeEvent({ messageId: id, properties: { cut: '@1', '@2': 1 } })))
        .replace('"@1"', '"emoji \\ud83d cut"')
        .replace('"@2"', '"\\udc00key"');
      expect((await post(text)).status).toBe(200);
      const row = await stored(id);
      expect(row.properties).toEqual({ cut: 'emoji \ufffd cut', '\ufffdkey': 1 });
    });

    it('invalid UTF-8 bytes are stored as U+FFFD on both routes (never a 5xx, never a corrupt row)', async () => {
      for (const path of ['/api/events', '/v1/batch']) {
        const id = mid('utf8');
        const json = Buffer.from(JSON.stringify(batchOf(makeEvent({ messageId: id, properties: { s: '@1' } }))));
        const at = json.indexOf('@1');
        const bytes = Buffer.concat([json.subarray(0, at), Buffer.from([0xff, 0xc3, 0x28, 0xed, 0xa0, 0x80]), json.subarray(at + 2)]);
        expect((await post(bytes, {}, path)).status).toBe(200);
        const row = await stored(id);
        expect(row.properties.s).toMatch(/^\ufffd+\(\ufffd+$/);
        expect(row.properties.s.isWellFormed()).toBe(true);
      }
    });
  });

  describe('NUL characters', () => {
    it('escaped NULs in every string field and in keys are stored intact and can be filtered on', async () => {
      const e = makeEvent({ messageId: mid('nul') + '\u0000end', event: 'ev\u0000ent', userId: 'u\u0000x', anonymousId: '\u0000', properties: { 'k\u0000': 'v\u0000', ['\u0000']: '\u0000\u0000' }, context: { page: { title: 'a\u0000b' } } });
      expect((await post(batchOf(e))).status).toBe(200);
      const row = await stored(e.messageId as string);
      expectIntact(row, e);
      const byUser = await getEvents(s.url, s.secretKey, { userId: 'u\u0000x' });
      expect(byUser.body.events.map((x: { messageId: string }) => x.messageId)).toEqual([e.messageId]);
    });

    it('a raw NUL byte inside a JSON string is not JSON: 400 SOL_ERR_BODY_INVALID_JSON', async () => {
      const text = JSON.stringify(batchOf(makeEvent())).replace('Button Clicked', 'Button\u0000Clicked');
      expectError(await post(text), 400, 'SOL_ERR_BODY_INVALID_JSON');
    });
  });

  describe('numbers that overflow, and ids as numbers', () => {
    it('1e400 and -1e400 in properties are stored as null, 1e-400 as 0, 2^64 rounded (IEEE doubles)', async () => {
      const id = mid('num');
      const text = JSON.stringify(batchOf(makeEvent({ messageId: id, properties: { a: '@1', b: '@2', c: '@3', d: '@4', ok: 1.5 } })))
        .replace('"@1"', '1e400')
        .replace('"@2"', '-1e400')
        .replace('"@3"', '1e-400')
        .replace('"@4"', '18446744073709551616');
      expect((await post(text)).status).toBe(200);
      expect((await stored(id)).properties).toEqual({ a: null, b: null, c: 0, d: 18446744073709552000, ok: 1.5 });
    });

    it('1e400 as a messageId, a timestamp or sentAt is refused', async () => {
      const e = JSON.stringify(makeEvent());
      expectEventRefused(await post(`{"batch":[${e.replace(/"messageId":"[^"]*"/, '"messageId":1e400')}],"sentAt":"${now()}"}`), '`messageId` must be a string');
      expectEventRefused(await post(`{"batch":[${e.replace(/"timestamp":"[^"]*"/, '"timestamp":1e400')}],"sentAt":"${now()}"}`), '`timestamp` must be a string');
      expectError(await post(`{"batch":[${e}],"sentAt":1e400}`), 400, 'SOL_ERR_BATCH_SENT_AT_INVALID');
    });

    it.each(['userId', 'anonymousId', 'groupId', 'previousId'])('/api/events: %s as a number is refused: it must be a string', async (field) => {
      const e = makeEvent({ type: field === 'groupId' ? 'group' : field === 'previousId' ? 'alias' : 'identify', event: undefined, groupId: 'g', previousId: 'p', [field]: 42 });
      expectEventRefused(await post(batchOf(e)), `\`${field}\` must be a string`);
    });

    it('/v1: finite numeric ids are stored as strings, as Segment does; infinite ones and numeric messageIds are refused', async () => {
      const ids = [mid('v1num'), mid('v1num'), mid('v1num')];
      const r = await v1({
        batch: [
          { type: 'identify', userId: 42, anonymousId: 7.5, messageId: ids[0] },
          { type: 'group', userId: -1, groupId: 1e21, messageId: ids[1] },
          { type: 'alias', userId: 0, previousId: 99, messageId: ids[2] },
          { type: 'track', event: 'x', userId: 5, messageId: 12345 },
        ],
      });
      expect(r.body).toMatchObject({ processed: 3, failed: 1, errors: [{ index: 3, error: expect.stringContaining('`messageId` must be a string') }] });
      expect(await stored(ids[0])).toMatchObject({ userId: '42', anonymousId: '7.5' });
      expect(await stored(ids[1])).toMatchObject({ userId: '-1', groupId: '1e+21' });
      expect(await stored(ids[2])).toMatchObject({ userId: '0', previousId: '99' });
      expect((await getEvents(s.url, s.secretKey, { userId: '42' })).body.events.map((x: { messageId: string }) => x.messageId)).toEqual([ids[0]]);
      const inf = await v1(`{"batch":[{"type":"identify","userId":1e400,"messageId":"${mid('inf')}"}]}`);
      expect(inf.body.errors).toEqual([{ index: 0, code: 'SOL_ERR_EVENT_INVALID', error: '`userId` must be a string' }]);
    });
  });

  describe('non-ISO, far-future and far-past timestamps', () => {
    it.each(['1736937000', '2025-01-15', '2025-01-15T10:30:00', '15/01/2025 10:30', 'Wed, 15 Jan 2025 10:30:00 GMT', '+010000-01-01T00:00:00Z', '2025-01-15T10:30:00+25:00', '2016-12-31T23:59:60Z', ''])(
      'timestamp %j: refused, naming `timestamp`',
      async (timestamp) => {
        expectEventRefused(await post(batchOf(makeEvent({ timestamp }))), '`timestamp`');
      },
    );

    it('sentAt that is not ISO 8601: 400 SOL_ERR_BATCH_SENT_AT_INVALID', async () => {
      expectError(await post({ batch: [makeEvent()], sentAt: '2025-01-15 10:30' }), 400, 'SOL_ERR_BATCH_SENT_AT_INVALID');
      expectError(await v1({ batch: [makeEvent()], sentAt: 'soon' }), 400, 'SOL_ERR_BATCH_SENT_AT_INVALID');
    });

    /** Posts one event with this timestamp and sentAt; returns the stored row and the instant around the request. */
    async function send(timestamp: string, sentAt: string, path = '/api/events') {
      const e = makeEvent({ messageId: mid('ts'), timestamp });
      const before = Date.now();
      const r = await post({ batch: [e], sentAt }, {}, path);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body.processed).toBe(1);
      return { row: await stored(e.messageId as string), before, after: Date.now() };
    }

    it('22 hours ahead (after clock-skew correction) is kept, unflagged', async () => {
      const ahead = new Date(Date.now() + 22 * HOUR).toISOString();
      const { row } = await send(ahead, now());
      expect(Date.parse(row.timestamp) - Date.parse(row.receivedAt)).toBeGreaterThan(21.9 * HOUR);
      expect(row).not.toHaveProperty('ingestionWarnings');
    });

    it.each([
      ['2 days ahead', () => new Date(Date.now() + 48 * HOUR).toISOString(), now],
      ['year 9999', () => '9999-12-31T23:59:59.999Z', now],
      ['a normal time sent with sentAt in year 0000 (skew of 2 000 years)', now, () => '0000-01-01T00:00:00Z'],
      ['9999 with sentAt 0000 (the largest skew there is)', () => '9999-12-31T23:59:59Z', () => '0000-01-01T00:00:00+23:59'],
    ])('%s: stored at receivedAt, originalTimestamp as sent, flagged timestamp_in_future', async (_name, ts, sentAt) => {
      const original = ts();
      const { row } = await send(original, sentAt());
      expect(row.timestamp).toBe(row.receivedAt);
      expect(row.originalTimestamp).toBe(original);
      expect(row.ingestionWarnings).toEqual(['timestamp_in_future']);
    });

    it('a backfill from 1971 is kept as sent (corrected for skew only)', async () => {
      const { row } = await send('1971-06-01T00:00:00Z', now());
      expect(Math.abs(Date.parse(row.timestamp) - Date.UTC(1971, 5, 1))).toBeLessThan(60_000);
      expect(row).not.toHaveProperty('ingestionWarnings');
    });

    it.each([
      ['1969-12-31T23:59:59Z', now],
      ['0000-01-01T00:00:00Z', now],
      ['a 2025 event sent with sentAt in 9999', () => '9999-01-01T00:00:00Z'],
    ])('%s: before 1970 once corrected: stored at receivedAt, flagged timestamp_before_1970', async (ts, sentAt) => {
      const original = ts.startsWith('a ') ? '2025-01-15T10:30:00Z' : ts;
      const { row } = await send(original, sentAt());
      expect(row.timestamp).toBe(row.receivedAt);
      expect(row.originalTimestamp).toBe(original);
      expect(row.ingestionWarnings).toEqual(['timestamp_before_1970']);
    });

    it('/v1: the same rules, with the event time from originalTimestamp or a per-event sentAt', async () => {
      const id = mid('v1ts');
      expect((await v1({ batch: [{ type: 'track', event: 'x', userId: 'u', messageId: id, originalTimestamp: '9999-01-01T00:00:00Z' }] })).status).toBe(200);
      expect(await stored(id)).toMatchObject({ ingestionWarnings: ['timestamp_in_future'], originalTimestamp: '9999-01-01T00:00:00Z' });
      const id2 = mid('v1ts');
      expect((await v1({ batch: [{ type: 'track', event: 'x', userId: 'u', messageId: id2, timestamp: '2025-01-01T00:00:00Z', sentAt: '9000-01-01T00:00:00Z' }] })).status).toBe(200);
      expect(await stored(id2)).toMatchObject({ ingestionWarnings: ['timestamp_before_1970'] });
    });

    it('a client-sent ingestionWarnings is Solute’s field: replaced or removed, and not counted in the size', async () => {
      const forged = makeEvent({ messageId: mid('warn'), ingestionWarnings: ['forged'] });
      expect((await post(batchOf(forged))).status).toBe(200);
      expect(await stored(forged.messageId as string)).not.toHaveProperty('ingestionWarnings');
      const e = makeEvent({ messageId: mid('warn'), timestamp: '9999-01-01T00:00:00Z', ingestionWarnings: 'forged' });
      expect((await post(batchOf(e))).status).toBe(200);
      expect((await stored(e.messageId as string)).ingestionWarnings).toEqual(['timestamp_in_future']);
    });

    it('the size limit measures the event as sent, not with the flag Solute adds', async () => {
      // An event of exactly 32 768 bytes as sent, far in the future: accepted though its stored form is larger.
      const e = makeEvent({ messageId: mid('size'), timestamp: '9999-01-01T00:00:00Z', properties: { pad: '' } });
      e.properties = { pad: 'x'.repeat(32 * 1024 - Buffer.byteLength(JSON.stringify(e))) };
      expect(Buffer.byteLength(JSON.stringify(e))).toBe(32 * 1024);
      const r = await post(batchOf(e));
      expect(r.body).toMatchObject({ processed: 1, failed: 0 });
      (e.properties as Record<string, string>).pad += 'x';
      e.messageId = mid('size');
      expect((await post(batchOf(e))).body.errors).toEqual([{ index: 0, code: 'SOL_ERR_EVENT_TOO_LARGE', error: expect.stringContaining('32769') }]);
    });
  });

  describe('duplicate and very long messageIds', () => {
    it('the same messageId three times in one batch: the first is stored, the others are duplicates', async () => {
      const id = mid('dup');
      const events = [1, 2, 3].map((n) => makeEvent({ messageId: id, properties: { n } }));
      const r = await post(batchOf(...events));
      expect(r.body).toEqual({ success: true, processed: 3, failed: 0, duplicates: 2, errors: [] });
      expect((await stored(id)).properties).toEqual({ n: 1 });
      const rv = await v1({ batch: events });
      expect(rv.body).toMatchObject({ processed: 3, duplicates: 3 });
    });

    it('messageIds over 200 characters are refused per event, up to 900 000 characters, on both routes', async () => {
      expectEventRefused(await post(batchOf(makeEvent({ messageId: 'm'.repeat(201) }))), '`messageId` must be at most 200 characters');
      expectEventRefused(await v1({ batch: [makeEvent({ messageId: 'm'.repeat(900_000) })] }), '`messageId` must be at most 200 characters', 'v1');
      const id = '📦'.repeat(100); // 200 UTF-16 units
      expect((await post(batchOf(makeEvent({ messageId: id })))).status).toBe(200);
      expect((await stored(id)).messageId).toBe(id);
    });
  });

  describe('injection-looking strings in every field', () => {
    const NASTY = [
      "'; DROP TABLE events; --",
      '" OR 1=1 --',
      "' OR ''='",
      '<script>alert(1)</script>',
      '${process.exit(1)}',
      '{{7*7}}',
      '../../../../etc/passwd',
      '$(rm -rf /)',
      '","p":"other","e":{"type":"track"}}\n{"p":"x',
      'line\r\nX-Injected: 1',
      '%00%0d%0a',
      "\\'; SELECT * FROM api_keys; --",
    ];

    it.each(NASTY.map((n, i) => [i, n]))('#%i %j is stored verbatim and found by exact filters', async (_i, nasty) => {
      const e = makeEvent({
        messageId: nasty + randomUUID(),
        event: nasty,
        userId: nasty + '_u',
        anonymousId: nasty + '_a',
        properties: { [nasty]: nasty, nested: [nasty, { [nasty]: nasty }] },
        context: { page: { url: nasty, title: nasty }, userAgent: nasty, [nasty]: nasty },
        [nasty.replace(/[^a-z]/gi, '') || 'x']: nasty,
      });
      const r = await post(batchOf(e));
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      const row = await stored(e.messageId as string);
      expectIntact(row, e);
      for (const [k, v] of [['event', nasty], ['userId', nasty + '_u'], ['anonymousId', nasty + '_a']]) {
        const found = await getEvents(s.url, s.secretKey, { [k]: v });
        expect(found.body.events.map((x: { messageId: string }) => x.messageId), k).toContain(e.messageId);
        expect(found.body.events.every((x: Record<string, string>) => x[k] === v)).toBe(true);
      }
    });

    it('an injection-looking type is refused naming only the allowed types; the project in the log is not the client’s', async () => {
      const r = await post(batchOf(makeEvent({ type: "track'; DROP TABLE events; --" })));
      expectEventRefused(r, '`type` must be one of track, identify, page, group, alias');
      expect(JSON.stringify(r.body)).not.toContain('DROP');
    });
  });

  describe('header injection', () => {
    const request = (headerLines: string, path = '/api/events', body = '{}') =>
      `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${headerLines}Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;

    it.each([
      ['a bare CR in the key', `X-Api-Key: wk_abc\rSet-Cookie: injected=1\r\n`],
      ['a bare LF in the key', `X-Api-Key: wk_abc\nSet-Cookie: injected=1\r\n`],
      ['a NUL in the key', `X-Api-Key: wk_\u0000abc\r\n`],
      ['a space in a header name', `X Api Key: wk_abc\r\n`],
    ])('%s: 400 SOL_ERR_BAD_REQUEST in the error format, nothing reflected, connection closed', async (_name, lines) => {
      const raw = await rawHttp(s.url, request(lines));
      const r = parseRaw(raw);
      expect(r.status).toBe(400);
      expect(r.body).toMatchObject({ success: false, code: 'SOL_ERR_BAD_REQUEST', message: expect.stringContaining('malformed HTTP request') });
      expect(raw.toLowerCase()).not.toContain('injected');
      expect(r.headers).toContainEqual(['connection', 'close']);
    });

    it.each([
      ['latin-1 bytes', Buffer.concat([Buffer.from('X-Api-Key: wk_'), Buffer.from([0xe4, 0xff, 0xfe]), Buffer.from('\r\n')])],
      ['quotes and angle brackets', Buffer.from(`X-Api-Key: wk_"'<script>\r\n`)],
      ['an encoded CRLF', Buffer.from('X-Api-Key: wk_%0d%0aSet-Cookie:%20injected=1\r\n')],
      ['8 KB of key', Buffer.from(`X-Api-Key: wk_${'a'.repeat(8000)}\r\n`)],
      ['a tab-padded key', Buffer.from(`X-Api-Key: \t${'wk_x'}\t\r\n`)],
    ])('a key with %s: 401 SOL_ERR_AUTH_INVALID_KEY with the normal message', async (_name, line) => {
      const head = Buffer.from(request('').split('Content-Length')[0]);
      const raw = await rawHttp(s.url, Buffer.concat([head, line, Buffer.from('Content-Length: 2\r\nConnection: close\r\n\r\n{}')]));
      const r = parseRaw(raw);
      expect(r.status).toBe(401);
      expect(r.body).toEqual({ success: false, code: 'SOL_ERR_AUTH_INVALID_KEY', message: 'invalid API key: unknown or revoked' });
      expect(raw.toLowerCase()).not.toContain('injected');
      expect(r.headers.map(([n]) => n)).not.toContain('set-cookie');
    });

    it('/v1 keys in Basic auth and ?writeKey= with CR/LF-looking text: 401, nothing reflected', async () => {
      const basic = 'Basic ' + Buffer.from('wk_x\r\nSet-Cookie: injected=1:').toString('base64');
      const a = await v1(batchOf(makeEvent()), { authorization: basic, 'x-api-key': '' });
      expectError(a, 401, 'SOL_ERR_AUTH_INVALID_KEY');
      const q = parseRaw(await rawHttp(s.url, `POST /v1/batch?writeKey=wk_%0d%0aSet-Cookie:%20injected=1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`));
      expect(q.status).toBe(401);
      expect(q.body.code).toBe('SOL_ERR_AUTH_INVALID_KEY');
      expect(q.headers.map(([n]) => n)).not.toContain('set-cookie');
    });

    it('an Origin with injection text is never reflected (Access-Control-Allow-Origin stays *)', async () => {
      const raw = await rawHttp(s.url, request(`X-Api-Key: ${s.writeKey}\r\nOrigin: https://evil.example%0d%0aX-Injected:1\r\n`, '/api/events', JSON.stringify(batchOf(makeEvent()))));
      const r = parseRaw(raw);
      expect(r.status).toBe(200);
      expect(r.headers).toContainEqual(['access-control-allow-origin', '*']);
      expect(raw.toLowerCase()).not.toContain('evil');
    });

    it('headers over 16 KiB: 431 SOL_ERR_HEADERS_TOO_LARGE in the error format', async () => {
      const r = parseRaw(await rawHttp(s.url, request(`X-Api-Key: wk_${'a'.repeat(20_000)}\r\n`)));
      expect(r.status).toBe(431);
      expect(r.body).toMatchObject({ success: false, code: 'SOL_ERR_HEADERS_TOO_LARGE' });
    });
  });

  describe('the server keeps serving others meanwhile', () => {
    it('normal clients get their 200 while hostile requests of every kind are being answered', async () => {
      const bomb = zlib.gzipSync(Buffer.alloc(32 * MiB, ' '));
      const deep = JSON.stringify(batchOf(makeEvent({ properties: { d: '@' } }))).replace('"@"', '['.repeat(400_000) + ']'.repeat(400_000));
      const hostile = [
        v1(bomb, { 'content-encoding': 'gzip' }),
        post(deep),
        v1(deep),
        v1('{"batch":[' + '{},'.repeat(MAX_V1_BATCH_EVENTS - 1) + '{}]}'),
        post('{"batch":[' + '['.repeat(MiB - 20)),
        postChunked(s.url, '/api/events', { 'content-type': 'application/json', 'x-api-key': s.writeKey }, Buffer.alloc(3 * MiB, ' ')),
        rawHttp(s.url, `POST /api/events HTTP/1.1\r\nHost: x\r\nX-Api-Key: wk_\rx\r\n\r\n`).then((t) => ({ status: parseRaw(t).status, headers: new Headers(), body: parseRaw(t).body })),
      ];
      const normal = Array.from({ length: 5 }, () => makeEvent({ messageId: mid('calm') }));
      const calm = normal.map((e) => post(batchOf(e)));
      const [h, c] = await Promise.all([Promise.all(hostile), Promise.all(calm)]);
      expect(h.map((a) => a.status)).toEqual([413, 400, 200, 200, 400, 413, 400]);
      expect(c.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
      for (const e of normal) expectIntact(await stored(e.messageId as string), e);
      expect((await fetch(`${s.url}/readyz`)).status).toBe(200);
    });
  });
});
