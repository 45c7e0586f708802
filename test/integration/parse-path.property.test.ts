// Property test of the whole parse path over real HTTP (issue 4): arbitrary bytes and arbitrary JSON,
// under the content types and encodings clients send, to POST /api/events and the /v1 routes, always
// get 200, 400, 413 or 415 in the uniform answer format, never a 5xx; the server stays ready.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import zlib from 'node:zlib';
import { makeEvent, readAnswer, startTestServer, type Answer, type TestServer } from '../helpers/solute.js';
import { ERRORS, type ErrorCode } from '../../src/errors.js';

const ROUTES = ['/api/events', '/v1/batch', '/v1/track', '/v1/i'];
const TYPES = ['application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'text/xml', 'application/json; charset=utf-16'];
const ENCODINGS = ['', 'identity', 'gzip', 'deflate', 'br'];

/** An event with any of its fields replaced by any JSON value: deep into the per-event checks. */
const eventish = fc
  .dictionary(
    fc.constantFrom('type', 'event', 'userId', 'anonymousId', 'messageId', 'timestamp', 'context', 'properties', 'traits', 'groupId', 'previousId', 'sentAt', '__proto__', 'constructor'),
    fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constantFrom('9999-12-31T23:59:59Z', '0000-01-01T00:00:00Z', '2025-01-15T10:30:00+14:00', 'track', 'screen', '')),
    { maxKeys: 3 },
  )
  .map((over) => JSON.stringify({ ...makeEvent({ messageId: `p_${Math.random()}` }), ...over }));

/** A JSON body: a batch of such events with any sentAt and any extra keys, or any JSON at all. */
const jsonBody = fc.oneof(
  fc
    .tuple(fc.array(fc.oneof(eventish, fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v))), { minLength: 0, maxLength: 5 }), fc.jsonValue({ maxDepth: 1 }), fc.boolean())
    .map(([events, sentAt, iso]) => `{"batch":[${events.join(',')}],"sentAt":${iso ? JSON.stringify(new Date().toISOString()) : JSON.stringify(sentAt)}}`),
  eventish,
  fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
);

/** Bytes: JSON, JSON cut short, JSON with bytes flipped, or noise. */
const body = fc.oneof(
  jsonBody.map((t) => Buffer.from(t)),
  fc.tuple(jsonBody, fc.nat()).map(([t, n]) => Buffer.from(t).subarray(0, n % (t.length + 1))),
  fc.tuple(jsonBody, fc.nat(), fc.integer({ min: 0, max: 255 })).map(([t, at, byte]) => {
    const b = Buffer.from(t);
    if (b.length > 0) b[at % b.length] = byte;
    return b;
  }),
  fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
);

/** The first choice (the plain case) weighs as much as all the others, so bodies reach the checks often. */
const mostlyFirst = (values: string[]) => fc.oneof({ arbitrary: fc.constant(values[0]), weight: values.length - 1 }, { arbitrary: fc.constantFrom(...values.slice(1)), weight: values.length - 1 });

const request = fc.record({
  route: mostlyFirst(ROUTES),
  type: mostlyFirst(TYPES),
  encoding: mostlyFirst(ENCODINGS),
  encodeForReal: fc.boolean(),
  body,
});

type Req = typeof request extends fc.Arbitrary<infer T> ? T : never;

describe('the parse path (property, over HTTP)', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s.close());

  async function send(r: Req): Promise<Answer> {
    let payload = r.body;
    if (r.encodeForReal && r.encoding === 'gzip') payload = zlib.gzipSync(payload);
    if (r.encodeForReal && r.encoding === 'deflate') payload = zlib.deflateSync(payload);
    const headers: Record<string, string> = { 'content-type': r.type, 'x-api-key': s.writeKey };
    if (r.encoding) headers['content-encoding'] = r.encoding;
    return readAnswer(await fetch(s.url + r.route, { method: 'POST', headers, body: payload }));
  }

  it('any request gets 200, 400, 413 or 415 in the answer format, never a 5xx', async () => {
    const seen = new Set<string>();
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const a = await send(r);
        expect([200, 400, 413, 415], JSON.stringify(a.body)).toContain(a.status);
        expect(typeof a.body).toBe('object');
        if (a.status !== 200 || a.body.code !== undefined) {
          expect(a.body.success).toBe(false);
          expect(ERRORS[a.body.code as ErrorCode]?.status, a.body.code).toBe(a.status);
        }
        if (a.body.errors) {
          expect(a.body.processed + a.body.failed).toBeGreaterThan(0);
          for (const e of a.body.errors) expect(['SOL_ERR_EVENT_INVALID', 'SOL_ERR_EVENT_TOO_LARGE']).toContain(e.code);
        }
        seen.add(`${a.status} ${a.body.code ?? (a.body.processed > 0 ? 'stored' : 'none')}`);
      }),
      {
        numRuns: 250,
        // The rarer outcomes, so the coverage check below does not depend on the seed.
        examples: [
          [{ route: '/api/events', type: 'application/json', encoding: '', encodeForReal: false, body: Buffer.from('{"batch":[1],"sentAt":"2025-01-01T00:00:00Z"}') }],
          [{ route: '/v1/batch', type: 'text/plain', encoding: 'gzip', encodeForReal: true, body: Buffer.from('{"batch":[{"__proto__":{"polluted":1}}]}') }],
          [{ route: '/v1/track', type: 'application/json; charset=utf-16', encoding: '', encodeForReal: false, body: Buffer.from('{}') }],
        ],
      },
    );
    // The generators reach the parser, the encodings, the batch rules, the per-event checks and the store.
    for (const outcome of ['200 stored', '400 SOL_ERR_BODY_INVALID_JSON', '415 SOL_ERR_BODY_UNSUPPORTED_ENCODING', '415 SOL_ERR_BODY_UNSUPPORTED_MEDIA_TYPE', '400 SOL_ERR_BATCH_NO_VALID_EVENTS', '200 none', '415 SOL_ERR_BODY_UNSUPPORTED_CHARSET']) {
      expect([...seen], outcome).toContain(outcome);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((await fetch(`${s.url}/readyz`)).status).toBe(200);
  });
});
