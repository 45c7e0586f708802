// Request-level rules of POST /api/events: JSON, content type, body size, batch and sentAt.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getEvents, makeEvent, postEvents, startTestServer, type TestServer } from '../helpers/solute.js';
import { expectError, postChunked, waitStored } from '../helpers/assertions.js';

const MiB = 1024 * 1024;
const now = () => new Date().toISOString();

/** A valid batch body padded with trailing whitespace (still valid JSON) to exactly `bytes` bytes. */
function paddedBody(bytes: number, batch = [makeEvent()]): string {
  const json = JSON.stringify({ batch, sentAt: now() });
  if (json.length > bytes) throw new Error('body too small to pad');
  return json + ' '.repeat(bytes - Buffer.byteLength(json));
}

describe('batch rules (default limits)', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s.close());

  const post = (body: unknown, headers?: Record<string, string>) => postEvents(s.url, s.writeKey, body, headers);

  describe('JSON and content type', () => {
    it.each([
      ['truncated', '{"batch": ['],
      ['trailing garbage', '{"batch": [], "sentAt": "2025-01-15T10:30:05Z"} x'],
      ['single quotes', "{'batch': []}"],
      ['empty body', ''],
      ['not JSON at all', 'batch=1'],
    ])('malformed JSON (%s): 400 SOL_ERR_BODY_INVALID_JSON', async (_name, body) => {
      expectError(await post(body), 400, 'SOL_ERR_BODY_INVALID_JSON');
    });

    it('a __proto__ key is never merged into objects: ignored outside the events, refused inside one (hostile-input.test.ts has the rest)', async () => {
      const body = `{"batch":[${JSON.stringify(makeEvent())}],"sentAt":"${now()}","__proto__":{"polluted":true}}`;
      expect((await post(body)).status).toBe(200);
      const ctor = `{"batch":[${JSON.stringify(makeEvent({ properties: { '@': 1 } })).replace('"@":1', '"constructor":{"prototype":{"polluted":true}}')}],"sentAt":"${now()}"}`;
      const r = await post(ctor);
      expect(r.status).toBe(400);
      expect(r.body.errors[0].error).toContain('`properties` holds a `constructor.prototype` key');
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });

    it.each([['[]'], ['null'], ['42'], ['"batch"'], ['true']])('a JSON body that is not an object (%s): 400 SOL_ERR_BODY_NOT_OBJECT', async (body) => {
      expectError(await post(body), 400, 'SOL_ERR_BODY_NOT_OBJECT');
    });

    it.each(['text/xml', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/octet-stream'])(
      'Content-Type %s: 415 SOL_ERR_BODY_UNSUPPORTED_MEDIA_TYPE',
      async (type) => {
        const r = await post({ batch: [makeEvent()], sentAt: now() }, { 'content-type': type });
        expectError(r, 415, 'SOL_ERR_BODY_UNSUPPORTED_MEDIA_TYPE');
        expect(r.body.message).toContain(type.split(';')[0]);
        expect(r.body.message).toContain('application/json');
      },
    );

    it('no Content-Type at all: 415', async () => {
      const r = await fetch(`${s.url}/api/events`, {
        method: 'POST',
        headers: { 'x-api-key': s.writeKey },
        body: new Blob([JSON.stringify({ batch: [makeEvent()], sentAt: now() })]), // a Blob without type sends no Content-Type
      });
      expect(r.headers.get('content-type')).toMatch(/^application\/json/);
      const body = await r.json();
      expectError({ status: r.status, headers: r.headers, body }, 415, 'SOL_ERR_BODY_UNSUPPORTED_MEDIA_TYPE');
    });

    it.each(['application/json; charset=utf-8', 'application/json;charset=UTF-8', 'Application/JSON'])('Content-Type %s is accepted', async (type) => {
      const r = await post({ batch: [makeEvent()], sentAt: now() }, { 'content-type': type });
      expect(r.status).toBe(200);
      expect(r.body.processed).toBe(1);
    });
  });

  describe('body size (1 MiB by default)', () => {
    it('a body of exactly 1 MiB is read; one byte more is 413 SOL_ERR_BODY_TOO_LARGE (Content-Length)', async () => {
      const ok = await post(paddedBody(MiB));
      expect(ok.status).toBe(200);
      const r = await post(paddedBody(MiB + 1));
      expectError(r, 413, 'SOL_ERR_BODY_TOO_LARGE');
      expect(r.body.message).toContain(String(MiB));
    });

    it('a chunked body over 1 MiB (no Content-Length) is 413 SOL_ERR_BODY_TOO_LARGE', async () => {
      const r = await postChunked(s.url, s.writeKey, Buffer.from(paddedBody(MiB + 64 * 1024)));
      expect(r.status).toBe(413);
      expect(r.headers['content-type']).toMatch(/^application\/json/);
      expect(r.body).toMatchObject({ success: false, code: 'SOL_ERR_BODY_TOO_LARGE' });
    });

    it('a chunked body within the limit is accepted', async () => {
      const e = makeEvent();
      const r = await postChunked(s.url, s.writeKey, Buffer.from(paddedBody(MiB - 100, [e])), 4096);
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ success: true, processed: 1, failed: 0 });
    });

    it('the server still answers normally after refusing large bodies', async () => {
      const r = await post({ batch: [makeEvent()], sentAt: now() });
      expect(r.status).toBe(200);
    });
  });

  describe('batch', () => {
    it.each([
      ['missing', { sentAt: '2025-01-15T10:30:05Z' }],
      ['null', { batch: null, sentAt: '2025-01-15T10:30:05Z' }],
      ['an object', { batch: { 0: makeEvent() }, sentAt: '2025-01-15T10:30:05Z' }],
      ['a string', { batch: 'events', sentAt: '2025-01-15T10:30:05Z' }],
      ['a number', { batch: 1, sentAt: '2025-01-15T10:30:05Z' }],
    ])('`batch` %s: 400 SOL_ERR_BATCH_MISSING', async (_name, body) => {
      const r = await post(body);
      expectError(r, 400, 'SOL_ERR_BATCH_MISSING');
      expect(r.body.message).toContain('batch');
    });

    it('`batch` empty: 400 SOL_ERR_BATCH_EMPTY', async () => {
      const r = await post({ batch: [], sentAt: now() });
      expectError(r, 400, 'SOL_ERR_BATCH_EMPTY');
      expect(r.body.message).toContain('batch');
    });

    it('100 events are accepted; 101 are 400 SOL_ERR_BATCH_TOO_LARGE naming the limit, and none of them is stored', async () => {
      const hundred = Array.from({ length: 100 }, () => makeEvent());
      const ok = await post({ batch: hundred, sentAt: now() });
      expect(ok.status).toBe(200);
      expect(ok.body).toEqual({ success: true, processed: 100, failed: 0, duplicates: 0, errors: [] });

      const tooMany = Array.from({ length: 101 }, () => makeEvent());
      const r = await post({ batch: tooMany, sentAt: now() });
      expectError(r, 400, 'SOL_ERR_BATCH_TOO_LARGE');
      expect(r.body.message).toMatch(/\b100\b/);
      expect(r.body.message).toMatch(/\b101\b/);

      await waitStored(s.url);
      for (const e of [tooMany[0], tooMany[100]]) {
        expect((await getEvents(s.url, s.secretKey, { messageId: e.messageId as string })).body.events).toEqual([]);
      }
      expect((await getEvents(s.url, s.secretKey, { messageId: hundred[99].messageId as string })).body.events).toHaveLength(1);
      // The refused batch claimed no messageId: sent again in smaller parts, it is accepted as new.
      const again = await post({ batch: tooMany.slice(0, 100), sentAt: now() });
      expect(again.body).toMatchObject({ processed: 100, duplicates: 0 });
    });
  });

  describe('sentAt', () => {
    it.each([
      ['missing', undefined],
      ['null', null],
      ['a number (epoch ms)', 1736937005000],
      ['an empty string', ''],
      ['free text', 'yesterday'],
      ['a date without a time', '2025-01-15'],
      ['a time without a zone', '2025-01-15T10:30:05'],
      ['an impossible date', '2025-13-45T10:30:05Z'],
      ['an impossible time', '2025-01-15T25:30:05Z'],
      ['RFC 2822', 'Wed, 15 Jan 2025 10:30:05 GMT'],
    ])('sentAt %s: 400 SOL_ERR_BATCH_SENT_AT_INVALID', async (_name, sentAt) => {
      const e = makeEvent();
      const r = await post({ batch: [e], sentAt });
      expectError(r, 400, 'SOL_ERR_BATCH_SENT_AT_INVALID');
      expect(r.body.message).toContain('sentAt');
    });

    it.each(['2025-01-15T10:30:05Z', '2025-01-15T10:30:05.123Z', '2025-01-15T12:30:05+02:00', '2025-01-15t10:30:05z'])('sentAt %s is accepted', async (sentAt) => {
      const r = await post({ batch: [makeEvent({ timestamp: '2025-01-15T10:30:00Z' })], sentAt });
      expect(r.status).toBe(200);
    });
  });
});

describe('batch rules (configured limits)', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ bodyLimitBytes: 4096, maxBatchEvents: 3 });
  });
  afterAll(() => s.close());

  it('bodyLimitBytes: 4096 bytes are read, 4097 are 413 naming the limit', async () => {
    expect((await postEvents(s.url, s.writeKey, paddedBody(4096))).status).toBe(200);
    const r = await postEvents(s.url, s.writeKey, paddedBody(4097));
    expectError(r, 413, 'SOL_ERR_BODY_TOO_LARGE');
    expect(r.body.message).toContain('4096');
  });

  it('bodyLimitBytes applies to chunked bodies too', async () => {
    const r = await postChunked(s.url, s.writeKey, Buffer.from(paddedBody(4097)), 512);
    expect(r.status).toBe(413);
    expect(r.body).toMatchObject({ success: false, code: 'SOL_ERR_BODY_TOO_LARGE' });
    const small = await postChunked(s.url, s.writeKey, Buffer.from(paddedBody(4096)), 512);
    expect(small.status).toBe(200);
  });

  it('maxBatchEvents: 3 events are accepted, 4 are 400 stating the limit 3', async () => {
    const ok = await postEvents(s.url, s.writeKey, { batch: [makeEvent(), makeEvent(), makeEvent()], sentAt: now() });
    expect(ok.body).toMatchObject({ success: true, processed: 3 });
    const r = await postEvents(s.url, s.writeKey, { batch: [makeEvent(), makeEvent(), makeEvent(), makeEvent()], sentAt: now() });
    expectError(r, 400, 'SOL_ERR_BATCH_TOO_LARGE');
    expect(r.body.message).toMatch(/limit is 3\b/);
  });
});
