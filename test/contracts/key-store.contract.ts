// The key store contract (KeyResolver + KeyAdmin), run against every adapter: the embedded SQLite
// store (sqlite-meta.test.ts) and the PostgreSQL one (pg-meta.test.ts). Real storage, no mocks.
import { beforeEach, describe, expect, it } from 'vitest';
import type { KeyAdmin, KeyResolver } from '../../src/contracts/key-store.js';
import { hashKey } from '../../src/auth/api-key.js';

export interface KeyStoreInstance {
  resolver: KeyResolver;
  admin: KeyAdmin;
  close(): Promise<void>;
}

export interface KeyStoreHarness {
  /** Empties the storage (or makes a new one) for the next test. */
  reset(): Promise<void>;
  /** An instance as a server opens it: resolving keys, kept fresh with a reload every keyRefreshMs. */
  openServer(keyRefreshMs: number): Promise<KeyStoreInstance>;
  /** An instance as bin/solute opens it: another process (or machine) over the same storage. */
  openCli(): Promise<KeyStoreInstance>;
  /** Everything the storage holds at rest, as bytes. */
  atRest(): Promise<Buffer>;
}

/** Slack for a loaded, shared 2-core machine on top of an adapter's documented bound. */
const SLACK_MS = 1000;

/** Polls `ok` every 2 ms; the time it took to hold, or throws once `limitMs` passed. */
export async function timeUntil(ok: () => boolean, limitMs: number): Promise<number> {
  const start = performance.now();
  for (;;) {
    if (ok()) return performance.now() - start;
    if (performance.now() - start > limitMs) throw new Error(`not seen within ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

export function keyStoreContract(name: string, harness: KeyStoreHarness): void {
  describe(`key store contract: ${name}`, () => {
    let open: KeyStoreInstance[] = [];
    const server = async (keyRefreshMs = 60_000) => {
      const s = await harness.openServer(keyRefreshMs);
      open.push(s);
      return s;
    };
    const cli = async () => {
      const s = await harness.openCli();
      open.push(s);
      return s;
    };

    beforeEach(async () => {
      await harness.reset();
      return async () => {
        const closing = open;
        open = [];
        for (const s of closing) await s.close();
      };
    });

    it('creates keys that resolve to their project and kind; unknown keys resolve to null', async () => {
      const s = await server();
      const w = await s.admin.createKey('shop', 'write');
      const k = await s.admin.createKey('shop', 'secret');
      expect(w).toMatch(/^wk_[0-9A-Za-z]{32}$/);
      expect(k).toMatch(/^sk_[0-9A-Za-z]{32}$/);
      expect(s.resolver.resolve(w)).toEqual({ project: 'shop', kind: 'write', prefix: w.slice(0, 11), allowedOrigins: [], rateLimit: null });
      expect(s.resolver.resolve(k)).toMatchObject({ project: 'shop', kind: 'secret', prefix: k.slice(0, 11) });
      expect(s.resolver.resolve(w.slice(0, -1) + (w.endsWith('a') ? 'b' : 'a'))).toBeNull();
      expect(s.resolver.resolve('')).toBeNull();
    });

    it('lists keys oldest first with prefix, project, kind and revocation, never a whole key', async () => {
      const s = await cli();
      const a = await s.admin.createKey('alpha', 'write');
      await new Promise((r) => setTimeout(r, 5)); // distinct created_at
      const b = await s.admin.createKey('beta', 'secret');
      await s.admin.revokeKey(a.slice(0, 11));
      const list = await s.admin.listKeys();
      expect(list).toEqual([
        { project: 'alpha', kind: 'write', prefix: a.slice(0, 11), createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), revokedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) },
        { project: 'beta', kind: 'secret', prefix: b.slice(0, 11), createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), revokedAt: null },
      ]);
      expect(JSON.stringify(list)).not.toContain(a.slice(11));
    });

    it('revokes the one active key a prefix, a leading part of one or the whole key designates', async () => {
      const s = await server();
      const [k1, k2, k3] = [await s.admin.createKey('p', 'write'), await s.admin.createKey('p', 'write'), await s.admin.createKey('q', 'secret')];
      const r1 = await s.admin.revokeKey(k1.slice(0, 11));
      expect(r1).toEqual({ matched: 1, revoked: { project: 'p', kind: 'write', prefix: k1.slice(0, 11), createdAt: expect.any(String), revokedAt: expect.any(String) } });
      expect(s.resolver.resolve(k1)).toBeNull();
      expect(s.resolver.resolve(k2)).not.toBeNull();
      expect((await s.admin.revokeKey(k2)).matched).toBe(1); // the whole key
      expect(s.resolver.resolve(k2)).toBeNull();
      expect((await s.admin.revokeKey(k3.slice(0, 9))).revoked?.prefix).toBe(k3.slice(0, 11)); // a leading part
      expect(s.resolver.resolve(k3)).toBeNull();
      expect(await s.admin.revokeKey(k1.slice(0, 11))).toEqual({ matched: 0, revoked: null }); // already revoked
      expect(await s.admin.revokeKey('wk_nothinglikeit')).toEqual({ matched: 0, revoked: null });
      expect(await s.admin.revokeKey(k1.slice(0, 11) + 'x')).toEqual({ matched: 0, revoked: null }); // longer than a prefix: a whole key, which it is not
    });

    it('revokes nothing when a prefix designates several active keys', async () => {
      const s = await server();
      const byStart = new Map<string, string[]>();
      let shared: string[] | undefined;
      while (!shared) {
        const key = await s.admin.createKey('p', 'write');
        const same = byStart.get(key.slice(0, 4)) ?? [];
        same.push(key);
        byStart.set(key.slice(0, 4), same);
        if (same.length === 2) shared = same;
      }
      expect(await s.admin.revokeKey(shared[0].slice(0, 4))).toEqual({ matched: 2, revoked: null });
      for (const key of shared) expect(s.resolver.resolve(key)).not.toBeNull();
      expect((await s.admin.listKeys()).every((k) => k.revokedAt === null)).toBe(true);
    });

    it('holds keys hashed: neither a key nor its random part is stored, its SHA-256 is', async () => {
      const s = await cli();
      const keys = [await s.admin.createKey('shop', 'write'), await s.admin.createKey('shop', 'secret')];
      const bytes = await harness.atRest();
      for (const key of keys) {
        expect(bytes.includes(Buffer.from(key))).toBe(false);
        expect(bytes.includes(Buffer.from(key.slice(3)))).toBe(false);
        expect(bytes.includes(hashKey(key))).toBe(true); // what was read is really the storage
      }
    });

    it('sets, lists and clears allowed origins, which resolve with the project\'s keys', async () => {
      const s = await server();
      const key = await s.admin.createKey('shop', 'write');
      await s.admin.setAllowedOrigins('shop', ['https://a.example', 'http://localhost:3000']);
      await s.admin.setAllowedOrigins('Blog', ['https://blog.example']);
      expect(s.resolver.resolve(key)?.allowedOrigins).toEqual(['https://a.example', 'http://localhost:3000']);
      // Byte order, as SQLite sorts: upper case first.
      expect(await s.admin.listAllowedOrigins()).toEqual([
        { project: 'Blog', origins: ['https://blog.example'] },
        { project: 'shop', origins: ['https://a.example', 'http://localhost:3000'] },
      ]);
      await s.admin.setAllowedOrigins('shop', []);
      expect(s.resolver.resolve(key)?.allowedOrigins).toEqual([]);
      expect(await s.admin.listAllowedOrigins()).toContainEqual({ project: 'shop', origins: [] });
    });

    it('sets, lists and clears rate limits, keeping the project\'s origins, and resolves them', async () => {
      const s = await server();
      const key = await s.admin.createKey('shop', 'write');
      await s.admin.setAllowedOrigins('shop', ['https://a.example']);
      await s.admin.setRateLimit('shop', { eventsPerSecond: 50, burst: null });
      await s.admin.setRateLimit('Big', { eventsPerSecond: 500, burst: 2000 });
      await s.admin.setAllowedOrigins('nolimit', ['https://n.example']);
      expect(s.resolver.resolve(key)).toMatchObject({ allowedOrigins: ['https://a.example'], rateLimit: { eventsPerSecond: 50, burst: null } });
      expect(await s.admin.listRateLimits()).toEqual([
        { project: 'Big', eventsPerSecond: 500, burst: 2000 },
        { project: 'shop', eventsPerSecond: 50, burst: null },
      ]);
      await s.admin.setRateLimit('shop', null);
      expect(s.resolver.resolve(key)).toMatchObject({ allowedOrigins: ['https://a.example'], rateLimit: null });
      expect(await s.admin.listRateLimits()).toEqual([{ project: 'Big', eventsPerSecond: 500, burst: 2000 }]);
      expect(await s.admin.listAllowedOrigins()).toContainEqual({ project: 'shop', origins: ['https://a.example'] });
    });

    it('a change made by another instance (the CLI) reaches a server within keyRefreshMs', async () => {
      const keyRefreshMs = 300;
      const s = await server(keyRefreshMs);
      const c = await cli();
      const bound = keyRefreshMs + SLACK_MS;

      const key = await c.admin.createKey('shop', 'write');
      await timeUntil(() => s.resolver.resolve(key) !== null, bound);

      await c.admin.setAllowedOrigins('shop', ['https://a.example']);
      await c.admin.setRateLimit('shop', { eventsPerSecond: 7, burst: 9 });
      await timeUntil(() => s.resolver.resolve(key)?.rateLimit?.eventsPerSecond === 7, bound);
      expect(s.resolver.resolve(key)).toMatchObject({ allowedOrigins: ['https://a.example'], rateLimit: { eventsPerSecond: 7, burst: 9 } });

      await c.admin.revokeKey(key.slice(0, 11));
      await timeUntil(() => s.resolver.resolve(key) === null, bound);
      // And the other way: what the server's instance wrote, the CLI lists.
      await s.admin.createKey('other', 'secret');
      expect((await c.admin.listKeys()).map((k) => k.project).sort()).toEqual(['other', 'shop']);
    });
  });
}
