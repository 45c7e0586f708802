// API keys over real HTTP: missing, unknown, revoked, created while running, and the wrong kind.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, getEvents, makeEvent, postEvents, startTestServer, type TestServer } from '../helpers/solute.js';
import { createKey, expectError, getEventsRaw, pollUntil } from '../helpers/assertions.js';
import { DISPLAY_PREFIX_LENGTH } from '../../src/auth/api-key.js';

const sentAt = () => new Date().toISOString();
const oneEvent = () => ({ batch: [makeEvent()], sentAt: sentAt() });

describe('API keys', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ keyRefreshMs: 1000 });
  });
  afterAll(() => s.close());

  describe('POST /api/events (X-Api-Key, write keys)', () => {
    it('answers 401 SOL_ERR_AUTH_MISSING_KEY without X-Api-Key, or with an empty one', async () => {
      expectError(await postEvents(s.url, undefined, oneEvent()), 401, 'SOL_ERR_AUTH_MISSING_KEY');
      expectError(await postEvents(s.url, '', oneEvent()), 401, 'SOL_ERR_AUTH_MISSING_KEY');
    });

    it('answers 401 SOL_ERR_AUTH_INVALID_KEY for an unknown key, whatever its shape', async () => {
      for (const key of ['wk_' + 'A'.repeat(32), 'nonsense', s.writeKey.slice(0, -1), s.writeKey + 'x', s.writeKey.toLowerCase()]) {
        if (key === s.writeKey) continue;
        expectError(await postEvents(s.url, key, oneEvent()), 401, 'SOL_ERR_AUTH_INVALID_KEY');
      }
    });

    it('answers 403 SOL_ERR_AUTH_WRONG_KEY_KIND for a secret key', async () => {
      const r = await postEvents(s.url, s.secretKey, oneEvent());
      expectError(r, 403, 'SOL_ERR_AUTH_WRONG_KEY_KIND');
      expect(r.body.message).toMatch(/write key/);
    });

    it('checks the key before the body: a bad key with a malformed body is 401, not 400', async () => {
      expectError(await postEvents(s.url, 'wk_unknown', '{"batch": ['), 401, 'SOL_ERR_AUTH_INVALID_KEY');
      expectError(await postEvents(s.url, undefined, '{"batch": ['), 401, 'SOL_ERR_AUTH_MISSING_KEY');
    });

    it('accepts the write key', async () => {
      const r = await postEvents(s.url, s.writeKey, oneEvent());
      expect(r.status).toBe(200);
      expect(r.body.processed).toBe(1);
    });
  });

  describe('GET /api/events (Authorization: Bearer, secret keys)', () => {
    it('answers 401 SOL_ERR_AUTH_MISSING_BEARER without Bearer', async () => {
      expectError(await getEventsRaw(s.url, '', ''), 401, 'SOL_ERR_AUTH_MISSING_BEARER');
      const plain = await fetch(`${s.url}/api/events`);
      expect(plain.status).toBe(401);
      expect(((await plain.json()) as { code: string }).code).toBe('SOL_ERR_AUTH_MISSING_BEARER');
      // The key in X-Api-Key or with another scheme is not a Bearer token.
      const viaHeader = await fetch(`${s.url}/api/events`, { headers: { 'x-api-key': s.secretKey } });
      expect(((await viaHeader.json()) as { code: string }).code).toBe('SOL_ERR_AUTH_MISSING_BEARER');
      const basic = await fetch(`${s.url}/api/events`, { headers: { authorization: `Basic ${s.secretKey}` } });
      expect(basic.status).toBe(401);
      expect(((await basic.json()) as { code: string }).code).toBe('SOL_ERR_AUTH_MISSING_BEARER');
    });

    it('answers 401 SOL_ERR_AUTH_INVALID_KEY for an unknown secret key', async () => {
      expectError(await getEvents(s.url, 'sk_' + 'Z'.repeat(32)), 401, 'SOL_ERR_AUTH_INVALID_KEY');
    });

    it('answers 403 SOL_ERR_AUTH_WRONG_KEY_KIND for a write key', async () => {
      const r = await getEvents(s.url, s.writeKey);
      expectError(r, 403, 'SOL_ERR_AUTH_WRONG_KEY_KIND');
      expect(r.body.message).toMatch(/secret key/);
    });

    it('checks the key before the query: a bad key with a bad query is 401, not 400', async () => {
      expectError(await getEventsRaw(s.url, 'sk_nope', 'limit=0&bogus=1'), 401, 'SOL_ERR_AUTH_INVALID_KEY');
    });

    it('accepts the secret key', async () => {
      const r = await getEvents(s.url, s.secretKey, { limit: 1 });
      expect(r.status).toBe(200);
    });
  });

  describe('keys managed with the CLI while the server runs', () => {
    it('a write key and a secret key created now work on the very next request', async () => {
      const wk = createKey(s.dataDir, 'test');
      const r = await postEvents(s.url, wk, oneEvent());
      expect(r.status).toBe(200);
      const sk = createKey(s.dataDir, 'test', 'secret');
      expect((await getEvents(s.url, sk, { limit: 1 })).status).toBe(200);
    });

    it('a new key works at once while near-misses of it are refused', async () => {
      const wk = createKey(s.dataDir, 'test');
      expectError(await postEvents(s.url, wk.slice(0, -1) + (wk.endsWith('a') ? 'b' : 'a'), oneEvent()), 401, 'SOL_ERR_AUTH_INVALID_KEY');
      expect((await postEvents(s.url, wk, oneEvent())).status).toBe(200);
    });

    it.each(['write', 'secret'] as const)('a revoked %s key stops working within 5 s, and other keys keep working', async (kind) => {
      const key = createKey(s.dataDir, 'test', kind);
      const use = () => (kind === 'write' ? postEvents(s.url, key, oneEvent()) : getEvents(s.url, key, { limit: 1 }));
      expect((await use()).status).toBe(200); // cached as valid before the revocation
      const out = cli(s.dataDir, 'keys', 'revoke', key.slice(0, DISPLAY_PREFIX_LENGTH));
      expect(out).toContain(key.slice(0, DISPLAY_PREFIX_LENGTH));
      const revokedAt = Date.now();
      await pollUntil(async () => (await use()).status === 401, 5000 - (Date.now() - revokedAt), 'the revoked key to be refused');
      // Stays refused, with the stable code.
      for (let i = 0; i < 3; i++) expectError(await use(), 401, 'SOL_ERR_AUTH_INVALID_KEY');
      expect((await postEvents(s.url, s.writeKey, oneEvent())).status).toBe(200);
      expect((await getEvents(s.url, s.secretKey, { limit: 1 })).status).toBe(200);
    });

    it('a key revoked before the server ever saw it is refused at once', async () => {
      const key = createKey(s.dataDir, 'test');
      cli(s.dataDir, 'keys', 'revoke', key);
      expectError(await postEvents(s.url, key, oneEvent()), 401, 'SOL_ERR_AUTH_INVALID_KEY');
    });
  });
});
