// Enrichment end to end: events posted over real HTTP, read back through GET /api/events with the
// secret key. The processor's enrich step (src/process/steps/enrich.ts) fills context.ip from the
// request's client IP (the log line's `i`) and parses context.userAgent into browser, os and device.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import type { Config } from '../../src/config.js';
import { getEvents, makeEvent, postEvents, startTestServer, type TestServer } from '../helpers/solute.js';
import { waitStored } from '../helpers/assertions.js';
import { basic, postV1 } from '../helpers/v1.js';

const CHROME_WINDOWS = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36';
const SAFARI_IOS =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1';
const ANDROID_APP = 'Dalvik/2.1.0 (Linux; U; Android 14; Pixel 8 Build/UQ1A.240205.004)';

function server(overrides: Partial<Config> = {}): () => TestServer {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer(overrides);
  });
  afterAll(() => s.close());
  return () => s;
}

/** Posts one event (as a browser would: its UA in the header and in context.userAgent) and reads back its stored context. */
async function roundTrip(s: TestServer, context: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Record<string, any>> {
  const event = makeEvent({ context });
  const ua: Record<string, string> = typeof context.userAgent === 'string' ? { 'user-agent': context.userAgent } : {};
  const r = await postEvents(s.url, s.writeKey, { batch: [event], sentAt: new Date().toISOString() }, { ...ua, ...headers });
  expect(r.status).toBe(200);
  return stored(s, event.messageId as string);
}

async function stored(s: TestServer, messageId: string): Promise<Record<string, any>> {
  await waitStored(s.url);
  const events = (await getEvents(s.url, s.secretKey, { messageId })).body.events as Array<Record<string, any>>;
  expect(events).toHaveLength(1);
  return events[0].context;
}

describe('enrichment (stored events, read back over HTTP)', () => {
  describe('defaults: keep the IP, trust no proxy', () => {
    const s = server();

    it('a desktop Chrome event gets the client IP, browser, OS and device', async () => {
      const context = await roundTrip(s(), { userAgent: CHROME_WINDOWS, locale: 'en-US' });
      expect(context).toEqual({
        userAgent: CHROME_WINDOWS,
        locale: 'en-US',
        ip: '127.0.0.1',
        browser: { name: 'Chrome', version: '124.0.0.0' },
        os: { name: 'Windows', version: '10' },
        device: { type: 'desktop' },
      });
    });

    it('Safari on an iPhone is a mobile Apple iPhone', async () => {
      const context = await roundTrip(s(), { userAgent: SAFARI_IOS });
      expect(context.browser).toEqual({ name: 'Mobile Safari', version: '17.4' });
      expect(context.os).toEqual({ name: 'iOS', version: '17.4' });
      expect(context.device).toEqual({ type: 'mobile', manufacturer: 'Apple', model: 'iPhone' });
    });

    it('what the client sent wins: its context.ip, and a mobile SDK\'s os and device', async () => {
      const sent = {
        userAgent: ANDROID_APP,
        ip: '203.0.113.9',
        os: { name: 'Android', version: '14' },
        device: { id: 'd-1', manufacturer: 'Google', model: 'Pixel 8', type: 'android' },
      };
      expect(await roundTrip(s(), structuredClone(sent))).toEqual(sent); // nothing to add, nothing replaced
    });

    it('a spoofed X-Forwarded-For does not become context.ip', async () => {
      const context = await roundTrip(s(), {}, { 'x-forwarded-for': '203.0.113.5' });
      expect(context).toEqual({ ip: '127.0.0.1' });
    });

    it('the /v1 routes are enriched the same way (a browser SDK\'s page call)', async () => {
      const messageId = `m_${randomUUID()}`;
      const r = await postV1(
        s().url,
        '/v1/page',
        { anonymousId: 'a1', messageId, context: { userAgent: CHROME_WINDOWS } },
        { authorization: basic(s().writeKey), 'user-agent': CHROME_WINDOWS },
      );
      expect(r.status).toBe(200);
      const context = await stored(s(), messageId);
      expect(context.ip).toBe('127.0.0.1');
      expect(context.browser).toEqual({ name: 'Chrome', version: '124.0.0.0' });
    });

    it('an event without a user agent gets only the IP; curl\'s adds nothing', async () => {
      expect(await roundTrip(s(), {})).toEqual({ ip: '127.0.0.1' });
      expect(await roundTrip(s(), { userAgent: 'curl/8.5.0' })).toEqual({ userAgent: 'curl/8.5.0', ip: '127.0.0.1' });
    });
  });

  describe('SOLUTE_IP_MODE=truncate behind a trusted proxy', () => {
    const s = server({ ipMode: 'truncate', trustedProxies: '127.0.0.1' });

    it('stores the /24 of an IPv4 client and the /48 of an IPv6 one, client-sent ones too', async () => {
      expect((await roundTrip(s(), {}, { 'x-forwarded-for': '198.51.100.23' })).ip).toBe('198.51.100.0');
      expect((await roundTrip(s(), {}, { 'x-forwarded-for': '2001:db8:abcd:12::5' })).ip).toBe('2001:db8:abcd::');
      expect((await roundTrip(s(), { ip: '203.0.113.77' })).ip).toBe('203.0.113.0');
      expect(await roundTrip(s(), { ip: 'not-an-ip' }, { 'x-forwarded-for': '198.51.100.23' })).toEqual({});
    });
  });

  describe('SOLUTE_IP_MODE=drop', () => {
    const s = server({ ipMode: 'drop' });

    it('stores no context.ip, not even one the client sent; the user agent is still parsed', async () => {
      const context = await roundTrip(s(), { userAgent: CHROME_WINDOWS, ip: '203.0.113.9' });
      expect(context).not.toHaveProperty('ip');
      expect(context.browser).toEqual({ name: 'Chrome', version: '124.0.0.0' });
    });
  });
});
