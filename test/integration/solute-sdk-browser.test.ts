// @solute-ai/sdk's browser build (packages/sdk/dist/solute.iife.js, as published) in Debian's Chromium,
// driven by playwright-core, against a real Solute (a `bin/solute serve` child, so that it can be stopped
// and restarted). Pages come from a static server on another port, so every request to Solute is
// cross-origin. A recording proxy in front of Solute sees every request (preflights and keepalive
// requests sent after a page is gone included) and can answer 503 in its place for a while.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { CHROMIUM, HAVE_CHROMIUM, launchChromium } from '../helpers/chromium.js';
import { ROOT, cli, freePort, sleep, spawnServer, tempDir, type ChildServer } from '../helpers/solute.js';
import { pollUntil, readAll, waitStored } from '../helpers/assertions.js';
import { recordingProxy, type RecordingProxy } from '../helpers/recording-proxy.js';

if (!HAVE_CHROMIUM && !process.env.SOLUTE_CI) {
  console.warn(`solute-sdk-browser.test.ts skipped: ${CHROMIUM} is missing (apt-get install -y chromium); with SOLUTE_CI set this fails instead`);
}
const SDK_DIR = path.join(ROOT, 'packages/sdk');
const SDK_VERSION = JSON.parse(fs.readFileSync(path.join(SDK_DIR, 'package.json'), 'utf8')).version as string;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const PAGE = (title: string) =>
  `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title><script src="/solute.iife.js"></script></head><body><h1>${title}</h1></body></html>`;

/** Serves the browser build and pages from another localhost port than Solute's (another origin). */
async function staticServer(): Promise<{ url: string; close(): Promise<void> }> {
  const bundle = fs.readFileSync(path.join(SDK_DIR, 'dist/solute.iife.js'));
  const server = http.createServer((req, res) => {
    const p = new URL(req.url ?? '/', 'http://x').pathname;
    if (p === '/solute.iife.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
    else if (p === '/favicon.ico') res.writeHead(204).end();
    else if (p === '/elsewhere') res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>elsewhere</title><p>no SDK here</p>');
    else res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE(`Page ${p}`));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

describe.skipIf(!HAVE_CHROMIUM && !process.env.SOLUTE_CI)('@solute-ai/sdk in headless Chromium against Solute', () => {
  let dataDir: string;
  let port: number;
  let server: ChildServer;
  let writeKey: string;
  let secretKey: string;
  let proxy: RecordingProxy;
  let site: { url: string; close(): Promise<void> };
  let browser: Browser;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    if (!HAVE_CHROMIUM) throw new Error(`${CHROMIUM} is missing and SOLUTE_CI is set: install it with apt-get install -y chromium`);
    dataDir = tempDir('solute-sdk-browser-');
    writeKey = cli(dataDir, 'keys', 'create', '--project', 'web');
    secretKey = cli(dataDir, 'keys', 'create', '--project', 'web', '--secret');
    port = await freePort();
    server = await spawnServer(dataDir, {}, port);
    proxy = await recordingProxy(server.url);
    site = await staticServer();
    browser = await launchChromium();
  });

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await site?.close();
    await proxy?.close();
    if (server && server.proc.exitCode === null) {
      server.proc.kill('SIGTERM');
      await server.exited;
    }
  });

  async function newContext(): Promise<BrowserContext> {
    const c = await browser.newContext();
    contexts.push(c);
    return c;
  }

  /** A page of the site with the SDK loaded; page errors are collected. */
  async function openPage(context: BrowserContext, p: string, referer?: string): Promise<{ page: Page; errors: string[] }> {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(site.url + p, referer ? { referer } : undefined);
    return { page, errors };
  }

  /** createSolute in the page (window.solute), with onError collected in window.soluteErrors. */
  async function init(page: Page, options: Record<string, unknown> = {}): Promise<void> {
    await page.evaluate(
      ({ writeKey, host, options }) => {
        const w = globalThis as any;
        w.soluteErrors = [];
        w.solute = w.Solute.createSolute({ writeKey, host, ...options, onError: (e: any) => w.soluteErrors.push({ type: e.type, status: e.status, n: e.events.length }) });
      },
      { writeKey, host: proxy.url, options },
    );
  }

  const flush = (page: Page) => page.evaluate(() => (globalThis as any).solute.flush());

  /** Tracks `n` events named `name` with properties {run, i, ...extra} in the page. */
  const trackMany = (page: Page, name: string, run: string, n: number, extra: Record<string, unknown> = {}) =>
    page.evaluate(({ name, run, n, extra }) => {
      for (let i = 0; i < n; i++) (globalThis as any).solute.track(name, { run, i, ...extra });
    }, { name, run, n, extra });

  async function storedOf(run: string): Promise<Array<Record<string, any>>> {
    await waitStored(server.url);
    return (await readAll(server.url, secretKey)).filter((e) => e.properties?.run === run);
  }

  /** Waits until `n` events of the run are stored (a keepalive request may land after the page is gone). */
  async function waitRun(run: string, n: number, timeoutMs = 20_000): Promise<Array<Record<string, any>>> {
    let events: Array<Record<string, any>> = [];
    await pollUntil(async () => (events = await storedOf(run)).length >= n, timeoutMs, `${n} events of run ${run}`);
    return events;
  }

  /** Every event of the run stored exactly once, and sent in exactly one request (no retries expected). */
  function expectOnceEach(events: Array<Record<string, any>>, n: number, sentOnce: boolean, from: number, run: string): void {
    expect(events).toHaveLength(n);
    expect(new Set(events.map((e) => e.messageId)).size).toBe(n);
    expect(events.map((e) => e.properties.i).sort((a, b) => a - b)).toEqual([...Array(n).keys()]);
    if (!sentOnce) return;
    // A request the browser itself sends again with the very same bytes (Chromium replays a request
    // whose reused keep-alive socket the server had just closed) is one send by the SDK: every send of
    // the SDK has its own sentAt, so two of its sends never have the same body.
    const sent = proxy.sentEvents(from).filter((s) => s.event.properties?.run === run);
    const bodies = new Map<string, Set<string>>();
    for (const s of sent) {
      const set = bodies.get(s.event.messageId) ?? new Set<string>();
      set.add(s.hit.body);
      bodies.set(s.event.messageId, set);
    }
    expect(bodies.size).toBe(n);
    const twice = sent.filter((s) => bodies.get(s.event.messageId)!.size > 1).map((s) => `${s.event.properties.i} ${s.hit.path} ${s.hit.at} ${s.hit.status}`);
    expect(twice, 'events sent in more than one request').toEqual([]);
  }

  it('track, identify, page, group and alias: each stored once, with page, userAgent, locale, timezone, screen, campaign, library and session context; identity persists', async () => {
    const from = proxy.hits.length;
    const context = await newContext();
    const { page, errors } = await openPage(context, '/pricing?utm_source=newsletter&utm_medium=email&utm_campaign=spring&q=1', `${site.url}/from-here`);
    await init(page);
    const userId = `user_${randomUUID()}`;
    const run = randomUUID();
    const anon = await page.evaluate(
      async ({ userId, run }) => {
        const s = (globalThis as any).solute;
        const anon = s.anonymousId;
        s.track('Button Clicked', { button_id: 'cta-signup', run });
        s.identify(userId, { plan: 'pro' });
        s.page('Pricing', { path: '/pricing', run });
        s.group('acme', { name: 'Acme Inc' });
        s.alias(`${userId}_v2`);
        await s.flush();
        return anon;
      },
      { userId, run },
    );
    const env = await page.evaluate(() => {
      const w = globalThis as any; // the page's window (the root tsconfig has no DOM types)
      return {
        ua: w.navigator.userAgent,
        lang: w.navigator.language,
        tz: Intl.DateTimeFormat().resolvedOptions().timeZone,
        w: w.screen.width,
        h: w.screen.height,
        dpr: w.devicePixelRatio,
        cookie: w.document.cookie,
        uid: w.localStorage.getItem('solute.uid'),
      };
    });
    await waitStored(server.url);
    const events = (await readAll(server.url, secretKey, { anonymousId: anon })).reverse();
    expect(events.map((e) => e.type)).toEqual(['track', 'identify', 'page', 'group', 'alias']);
    const [track, identify, pageEv, group, alias] = events;
    expect(track).toMatchObject({ event: 'Button Clicked', properties: { button_id: 'cta-signup', run } });
    expect(track.userId).toBeUndefined();
    expect(identify).toMatchObject({ userId, traits: { plan: 'pro' } });
    expect(pageEv).toMatchObject({ userId, name: 'Pricing', properties: { path: '/pricing', url: `${site.url}/pricing?utm_source=newsletter&utm_medium=email&utm_campaign=spring&q=1`, title: 'Page /pricing' } });
    expect(group).toMatchObject({ userId, groupId: 'acme', traits: { name: 'Acme Inc' } });
    expect(alias).toMatchObject({ userId: `${userId}_v2`, previousId: userId });
    const sessionId = track.context.sessionId;
    expect(sessionId).toMatch(UUID);
    for (const e of events) {
      expect(e.messageId).toMatch(UUID);
      expect(e.anonymousId).toBe(anon);
      const c = e.context;
      expect(c.library).toEqual({ name: '@solute-ai/sdk', version: SDK_VERSION });
      expect(c.sessionId).toBe(sessionId);
      expect(c.page).toEqual({
        path: '/pricing',
        url: `${site.url}/pricing?utm_source=newsletter&utm_medium=email&utm_campaign=spring&q=1`,
        title: 'Page /pricing',
        referrer: `${site.url}/from-here`,
        search: '?utm_source=newsletter&utm_medium=email&utm_campaign=spring&q=1',
      });
      expect(c.userAgent).toBe(env.ua);
      expect(c.locale).toBe(env.lang);
      expect(c.timezone).toBe(env.tz);
      expect(c.screen).toEqual({ width: env.w, height: env.h, density: env.dpr });
      expect(c.campaign).toEqual({ source: 'newsletter', medium: 'email', name: 'spring' });
      expect(Math.abs(Date.parse(e.timestamp) - Date.parse(e.receivedAt))).toBeLessThan(10_000);
    }
    // anonymousId in a first-party cookie and localStorage; userId remembered after identify/alias.
    expect(env.cookie).toContain(`solute_aid=${anon}`);
    expect(env.uid).toBe(`${userId}_v2`);

    // What reached Solute: POST /api/events from the page's origin, X-Api-Key, JSON, after a CORS preflight.
    const hits = proxy.hits.slice(from);
    const posts = hits.filter((h) => h.method === 'POST');
    expect(posts).toHaveLength(1);
    for (const h of posts) {
      expect(h.path).toBe('/api/events');
      expect(h.status).toBe(200);
      expect(h.headers.origin).toBe(site.url);
      expect(h.headers['x-api-key']).toBe(writeKey);
      expect(h.headers['content-type']).toBe('application/json');
      expect(Object.keys(JSON.parse(h.body))).toEqual(['batch', 'sentAt']);
    }
    const preflight = hits.find((h) => h.method === 'OPTIONS' && h.path === '/api/events');
    expect(preflight?.status).toBe(204);
    expect(preflight?.headers['access-control-request-headers']).toContain('x-api-key');

    // The next page of the site: same anonymousId, userId and session.
    await page.goto(`${site.url}/docs`);
    await init(page);
    const again = await page.evaluate(async (run) => {
      const s = (globalThis as any).solute;
      s.track('Docs Read', { run, i: 0 });
      await s.flush();
      const before = { anon: s.anonymousId, user: s.userId };
      s.reset();
      return { before, after: { anon: s.anonymousId, user: s.userId } };
    }, run);
    expect(again.before).toEqual({ anon, user: `${userId}_v2` });
    expect(again.after.anon).not.toBe(anon);
    expect(again.after.anon).toMatch(UUID);
    expect(again.after.user).toBeUndefined();
    const docs = (await storedOf(run)).filter((e) => e.event === 'Docs Read');
    expect(docs).toHaveLength(1);
    expect(docs[0]).toMatchObject({ anonymousId: anon, userId: `${userId}_v2`, context: { sessionId, page: { path: '/docs', referrer: '' } } });
    expect(errors).toEqual([]);
    expect(await page.evaluate(() => (globalThis as any).soluteErrors)).toEqual([]);
    await context.close();
  });

  it('sessions: a new sessionId after 30 minutes without an event or 24 hours in all, the same one otherwise', async () => {
    const context = await newContext();
    const { page, errors } = await openPage(context, '/sessions');
    await init(page);
    const run = randomUUID();
    // The session lives in localStorage as {i: id, s: start, l: last event} (ms); set it as time would have.
    const sessions = await page.evaluate(async (run) => {
      const w = globalThis as any;
      const now = Date.now();
      const cases: Array<[string, number, number]> = [
        ['idle31m', now - 40 * 60_000, now - 31 * 60_000],
        ['idle29m', now - 40 * 60_000, now - 29 * 60_000],
        ['age25h', now - 25 * 3_600_000, now - 60_000],
        ['age23h', now - 23 * 3_600_000, now - 60_000],
      ];
      const out: Record<string, string> = {};
      for (const [name, start, last] of cases) {
        w.localStorage.setItem('solute.session', JSON.stringify({ i: name, s: start, l: last }));
        w.solute.track('Session Check', { run, i: cases.findIndex((c) => c[0] === name) });
        out[name] = JSON.parse(w.localStorage.getItem('solute.session')).i;
      }
      await w.solute.flush();
      return out;
    }, run);
    expect(sessions.idle29m).toBe('idle29m');
    expect(sessions.age23h).toBe('age23h');
    expect(sessions.idle31m).toMatch(UUID);
    expect(sessions.age25h).toMatch(UUID);
    const events = (await waitRun(run, 4)).sort((a, b) => a.properties.i - b.properties.i);
    expect(events.map((e) => e.context.sessionId)).toEqual([sessions.idle31m, 'idle29m', sessions.age25h, 'age23h']);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('Solute stopped, then restarted on the same port: every event queued meanwhile is delivered once', async () => {
    const context = await newContext();
    const { page, errors } = await openPage(context, '/outage');
    // Enough retries for a restart on a loaded machine (the default, 10 up to 30 s apart, is for real outages).
    await init(page, { flushAt: 1, retryDelay: 200, maxRetryDelay: 1000, maxRetries: 100 });
    const run = randomUUID();
    server.proc.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    const from = proxy.hits.length;
    await trackMany(page, 'During Outage', run, 5);
    const flushed = flush(page);
    // Each attempt dies at the proxy (its CORS preflight first, while none is cached).
    const failed = () => proxy.hits.slice(from).filter((h) => h.status === 0).length;
    await pollUntil(async () => failed() >= 2, 10_000, 'two failed attempts');
    server = await spawnServer(dataDir, {}, port);
    await flushed;
    const events = await waitRun(run, 5);
    expectOnceEach(events, 5, false, from, run);
    const posts = proxy.hits.slice(from).filter((h) => h.method === 'POST');
    expect(failed()).toBeGreaterThanOrEqual(2);
    expect(posts.at(-1)?.status).toBe(200);
    expect(errors).toEqual([]);
    expect(await page.evaluate(() => (globalThis as any).soluteErrors)).toEqual([]);
    await context.close();
  });

  it('answers of 503 then 200: the batch is retried as it is and stored once', async () => {
    const context = await newContext();
    const { page, errors } = await openPage(context, '/busy');
    await init(page, { retryDelay: 100 });
    const run = randomUUID();
    const from = proxy.hits.length;
    proxy.refuse(2, { status: 503, headers: { 'retry-after': '1' } });
    await trackMany(page, 'Busy', run, 3);
    await flush(page);
    const posts = proxy.hits.slice(from).filter((h) => h.method === 'POST');
    expect(posts.map((h) => h.status)).toEqual([503, 503, 200]);
    const ids = posts.map((h) => JSON.parse(h.body).batch.map((e: any) => e.messageId).join());
    expect(new Set(ids).size).toBe(1);
    expect(posts[1].at - posts[0].at).toBeGreaterThanOrEqual(950); // Retry-After: 1
    expectOnceEach(await waitRun(run, 3), 3, false, from, run);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('navigation away with events queued: sent with fetch keepalive (text/plain, no preflight) and stored once; the next page does not send them again', async () => {
    const context = await newContext();
    const { page, errors } = await openPage(context, '/cart');
    await init(page, { flushAt: 100, flushInterval: 60_000 });
    const run = randomUUID();
    const from = proxy.hits.length;
    await trackMany(page, 'Checkout Started', run, 3);
    expect(proxy.hits.slice(from).filter((h) => h.method === 'POST')).toEqual([]);
    await page.goto(`${site.url}/elsewhere`);
    expectOnceEach(await waitRun(run, 3), 3, true, from, run);
    const hits = proxy.hits.slice(from);
    const posts = hits.filter((h) => h.method === 'POST');
    expect(posts).toHaveLength(1);
    expect(posts[0].path).toBe(`/v1/batch?writeKey=${encodeURIComponent(writeKey)}`);
    expect(posts[0].headers['content-type']).toBe('text/plain');
    expect(posts[0].headers['x-api-key']).toBeUndefined();
    expect(posts[0].headers.origin).toBe(site.url);
    expect(posts[0].status).toBe(200);
    expect(Object.keys(JSON.parse(posts[0].body))).toEqual(['batch', 'sentAt']);
    expect(hits.filter((h) => h.method === 'OPTIONS')).toEqual([]);
    // Nothing of it is left in localStorage, so a later page of the site has nothing to send.
    await page.goto(`${site.url}/back`);
    await init(page);
    await sleep(500);
    await flush(page);
    expect(proxy.hits.slice(from).filter((h) => h.method === 'POST')).toHaveLength(1);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('two tabs of the same site: no event sent twice, none lost, also when a tab closes with more queued than keepalive can carry', async () => {
    const context = await newContext();
    const a = await openPage(context, '/tab-a');
    const b = await openPage(context, '/tab-b');
    await init(a.page, { flushAt: 5, flushInterval: 200 });
    await init(b.page, { flushAt: 5, flushInterval: 200 });
    const run = randomUUID();
    let from = proxy.hits.length;
    // Both tabs track at once, sharing localStorage.
    await Promise.all(
      [a.page, b.page].map((page, t) =>
        page.evaluate(
          async ({ run, t }) => {
            for (let i = 0; i < 30; i++) {
              (globalThis as any).solute.track('Two Tabs', { run, i: t * 30 + i });
              await new Promise((r) => setTimeout(r, 5));
            }
            await (globalThis as any).solute.flush();
          },
          { run, t },
        ),
      ),
    );
    expectOnceEach(await waitRun(run, 60), 60, true, from, run);

    // A third tab queues ~130 KB and closes: keepalive carries what fits under 64 KiB; the rest stays in
    // localStorage and one of the two live tabs (both wait for its lock) takes it over and sends it.
    const run2 = randomUUID();
    from = proxy.hits.length;
    const c = await openPage(context, '/tab-c');
    await init(c.page, { flushAt: 1000, flushInterval: 60_000 });
    await trackMany(c.page, 'Big Queue', run2, 120, { pad: 'x'.repeat(1000) });
    await sleep(200); // the other tabs see its queue appear (storage events) and wait for its lock
    expect(proxy.hits.slice(from).filter((h) => h.method === 'POST')).toEqual([]);
    await c.page.close({ runBeforeUnload: true });
    expectOnceEach(await waitRun(run2, 120), 120, true, from, run2);
    const posts = proxy.hits.slice(from).filter((h) => h.method === 'POST');
    const keepalive = posts.filter((h) => h.path.startsWith('/v1/batch'));
    expect(keepalive.length).toBeGreaterThanOrEqual(1);
    expect(keepalive.reduce((n, h) => n + Buffer.byteLength(h.body), 0)).toBeLessThan(64 * 1024);
    expect(posts.filter((h) => h.path === '/api/events').length).toBeGreaterThanOrEqual(1);
    for (const h of posts) expect(h.status).toBe(200);
    for (const t of [a, b, c]) expect(t.errors).toEqual([]);
    // Nothing is left behind in localStorage: the tab that took the closed tab's queue over removes it
    // once the answer to its last send is read, which may come a moment after Solute stored the events.
    const leftover = () => a.page.evaluate(() => Object.keys((globalThis as any).localStorage).filter((k) => k.includes('.q.')));
    for (const deadline = Date.now() + 10_000; (await leftover()).length > 0 && Date.now() < deadline; ) await sleep(100);
    expect(await leftover()).toEqual([]);
    await context.close();
  });

  it('without Web Locks (heartbeat fallback): a closed tab\'s leftover queue is taken over by the live tab and sent once', async () => {
    const context = await newContext();
    // As on a page that is not a secure context, or an older browser: no navigator.locks.
    await context.addInitScript(() => Object.defineProperty((globalThis as any).Navigator.prototype, 'locks', { get: () => undefined, configurable: true }));
    const a = await openPage(context, '/no-locks-a');
    await init(a.page, { flushAt: 5, flushInterval: 200 });
    const run = randomUUID();
    const from = proxy.hits.length;
    const c = await openPage(context, '/no-locks-c');
    expect(await c.page.evaluate(() => (globalThis as any).navigator.locks)).toBeUndefined();
    await init(c.page, { flushAt: 1000, flushInterval: 60_000 });
    await trackMany(c.page, 'No Locks', run, 120, { pad: 'y'.repeat(1000) });
    await sleep(200);
    await c.page.close({ runBeforeUnload: true });
    expectOnceEach(await waitRun(run, 120), 120, true, from, run);
    const posts = proxy.hits.slice(from).filter((h) => h.method === 'POST');
    expect(posts.some((h) => h.path.startsWith('/v1/batch'))).toBe(true);
    expect(posts.some((h) => h.path === '/api/events')).toBe(true);
    // No queue is left, and of the heartbeats only the live tab's own.
    const keys = await a.page.evaluate(() => Object.keys((globalThis as any).localStorage));
    expect(keys.filter((k) => k.includes('.q.'))).toEqual([]);
    expect(keys.filter((k) => k.includes('.hb.'))).toHaveLength(1);
    expect(a.errors).toEqual([]);
    expect(c.errors).toEqual([]);
    await context.close();
  });

  it('a queue left by a page closed while Solute was failing is delivered on the next visit', async () => {
    const context = await newContext();
    const first = await openPage(context, '/first');
    await init(first.page, { flushAt: 1, retryDelay: 100, maxRetryDelay: 200, maxRetries: 1 });
    const run = randomUUID();
    const from = proxy.hits.length;
    proxy.refuse(Infinity, { status: 503 });
    await trackMany(first.page, 'Left Behind', run, 4);
    await flush(first.page);
    await first.page.close({ runBeforeUnload: true });
    await sleep(300);
    proxy.pass();
    expect(proxy.hits.slice(from).filter((h) => h.method === 'POST' && !h.refused)).toEqual([]);
    const next = await openPage(context, '/next');
    await init(next.page);
    await pollUntil(async () => (await next.page.evaluate(() => (globalThis as any).solute.flush()), (await storedOf(run)).length >= 4), 15_000, 'the left queue');
    expectOnceEach(await storedOf(run), 4, false, from, run);
    expect(first.errors).toEqual([]);
    expect(next.errors).toEqual([]);
    await context.close();
  });

  it('localStorage full: no exception, events delivered (the queue falls back to memory)', async () => {
    const context = await newContext();
    const { page, errors } = await openPage(context, '/full');
    const filled = await page.evaluate(() => {
      const localStorage = (globalThis as any).localStorage;
      let chunk = 'x'.repeat(1 << 20);
      let n = 0;
      while (chunk.length > 16) {
        try {
          localStorage.setItem(`filler${n++}`, chunk);
        } catch {
          chunk = chunk.slice(chunk.length / 2);
        }
      }
      try {
        localStorage.setItem('probe', 'x'.repeat(64));
        return false;
      } catch {
        return true;
      }
    });
    expect(filled).toBe(true);
    await init(page, { flushAt: 3 });
    const run = randomUUID();
    const thrown = await page.evaluate(async (run) => {
      try {
        const s = (globalThis as any).solute;
        s.identify('full_user', { plan: 'pro' });
        for (let i = 0; i < 6; i++) s.track('Storage Full', { run, i });
        await s.flush();
        return null;
      } catch (e) {
        return String(e);
      }
    }, run);
    expect(thrown).toBeNull();
    const events = await waitRun(run, 6);
    expectOnceEach(events, 6, false, 0, run);
    for (const e of events) expect(e.userId).toBe('full_user');
    expect(errors).toEqual([]);
    expect(await page.evaluate(() => (globalThis as any).soluteErrors)).toEqual([]);
    await context.close();
  });
});
