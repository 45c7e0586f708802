// The console's server side over real HTTP against a real Solute: its files at / (CSP, caching, and
// the JSON 404 kept for every other path), sign-in with a secret key (write keys refused, cookie
// attributes, CSRF), sessions standing for their key on the read routes, sign-out, expiry and key
// revocation ending sessions and live streams, the live stream itself (latency, duplicates, filters,
// resume, caps), the health figures against /metrics, and dead letters only a session may replay.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, cli, makeEvent, postEvents, readAllEvents, startTestServer, waitForDrain, type TestServer } from '../helpers/solute.js';
import { expectError, metricValue, metricsText } from '../helpers/assertions.js';
import { liveRows, openSse, poisonableSteps, signIn, type ConsoleSession } from '../helpers/console.js';

const processing = poisonableSteps();

const now = () => new Date().toISOString();
const json = async (r: Response) => ({ status: r.status, headers: r.headers, body: (await r.json().catch(() => null)) as any });

describe('console (HTTP)', () => {
  let s: TestServer;
  let session: ConsoleSession;
  const get = (p: string, headers: Record<string, string> = {}) => fetch(`${s.url}${p}`, { headers }).then(json);
  const asSession = (x: ConsoleSession = session) => ({ cookie: x.cookie });

  beforeAll(async () => {
    if (!fs.existsSync(path.join(ROOT, 'dist', 'ui', 'index.html'))) throw new Error('dist/ui is missing: run npm run build first');
    s = await startTestServer({ keyRefreshMs: 100, consoleLiveSubscribers: 4, trustedProxies: '127.0.0.1' }, undefined, { eventSteps: processing.steps });
    session = await signIn(s.url, s.secretKey);
  });
  afterAll(() => s?.close());

  it('serves the console at / with a strict CSP, hashed assets cached for a year, and the JSON 404 everywhere else', async () => {
    const r = await fetch(`${s.url}/`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/html/);
    expect(r.headers.get('content-security-policy')).toMatch(/^default-src 'self';/);
    expect(r.headers.get('cache-control')).toBe('no-cache');
    const html = await r.text();
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    expect(refs.length).toBeGreaterThanOrEqual(3);
    for (const ref of refs) {
      // Relative (works under a path prefix), hashed, and served here.
      expect(ref).toMatch(/^assets\/[\w-]+-[A-Za-z0-9]{8}\.(js|css|svg)$/);
      const a = await fetch(`${s.url}/${ref}`);
      expect(a.status, ref).toBe(200);
      expect(a.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      const body = await a.text();
      if (ref.endsWith('.css')) expect(body).not.toMatch(/@import|url\(\s*['"]?(https?:)?\/\//);
      if (ref.endsWith('.js')) expect(a.headers.get('content-encoding')).toBe('gzip');
    }
    const again = await fetch(`${s.url}/`, { headers: { 'if-none-match': r.headers.get('etag')! } });
    expect(again.status).toBe(304);
    for (const p of ['/nope', '/console', '/assets/nope.js', '/api/console/nope', '/index.html']) {
      expectError(await get(p), 404, 'SOL_ERR_ROUTE_NOT_FOUND');
    }
    // With a session cookie, an unknown path under /api/ is still a 404, not a session question.
    expectError(await get('/api/nope', asSession()), 404, 'SOL_ERR_ROUTE_NOT_FOUND');
  });

  it('sign-in refuses write keys and unknown keys clearly, takes JSON only, refuses cross-site requests, and sets an HttpOnly SameSite=Strict cookie', async () => {
    const post = (body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
      fetch(`${s.url}/api/console/session`, { method: 'POST', headers, body }).then(json);
    const w = await post(JSON.stringify({ key: s.writeKey }));
    expectError(w, 403, 'SOL_ERR_AUTH_WRONG_KEY_KIND');
    expect(w.body.message).toMatch(/write keys .*sign in .* secret key/);
    expect(w.headers.get('set-cookie')).toBeNull();
    expectError(await post(JSON.stringify({ key: 'sk_unknown' })), 401, 'SOL_ERR_AUTH_INVALID_KEY');
    expectError(await post(`key=${s.secretKey}`, { 'content-type': 'application/x-www-form-urlencoded' }), 415, 'SOL_ERR_BODY_UNSUPPORTED_MEDIA_TYPE');
    expectError(await post(JSON.stringify({ key: s.secretKey }), { 'content-type': 'application/json', 'sec-fetch-site': 'cross-site' }), 403, 'SOL_ERR_AUTH_CSRF');

    const ok = await signIn(s.url, s.secretKey);
    const attrs = ok.setCookie.split(';').map((a) => a.trim());
    expect(attrs[0]).toMatch(/^solute_session=[A-Za-z0-9_-]{43}$/);
    expect(attrs).toEqual(expect.arrayContaining(['HttpOnly', 'SameSite=Strict', 'Path=/', 'Max-Age=43200']));
    expect(attrs).not.toContain('Secure'); // plain HTTP here...
    const viaProxy = await fetch(`${s.url}/api/console/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-proto': 'https' }, // ...HTTPS at a trusted proxy
      body: JSON.stringify({ key: s.secretKey }),
    });
    expect(viaProxy.headers.get('set-cookie')).toMatch(/; Secure$/);
    const who = await get('/api/console/session', asSession(ok));
    expect(who.status).toBe(200);
    expect(who.body).toMatchObject({ project: 'test', keyPrefix: s.secretKey.slice(0, 11), csrfToken: ok.csrf });
    expect(Date.parse(who.body.expiresAt) - Date.now()).toBeGreaterThan(11.9 * 3600_000);
    expect(JSON.stringify(who.body)).not.toContain(s.secretKey);
  });

  it('a session reads what its secret key reads; it sends no events; dead-letter routes take a session and never a key', async () => {
    for (const p of ['/api/events?limit=1', `/api/stats/top-events?from=2020-01-01T00:00:00Z&to=${encodeURIComponent(now())}`, '/api/profiles', '/api/console/health']) {
      expect((await get(p, asSession())).status, p).toBe(200);
      expectError(await get(p), 401, 'SOL_ERR_AUTH_MISSING_BEARER');
    }
    const viaCookie = await fetch(`${s.url}/api/events`, { method: 'POST', headers: { 'content-type': 'application/json', ...asSession() }, body: JSON.stringify({ batch: [makeEvent()], sentAt: now() }) });
    expectError(await json(viaCookie), 401, 'SOL_ERR_AUTH_MISSING_KEY');

    const bearer = await get('/api/dead-letters', { authorization: `Bearer ${s.secretKey}` });
    expectError(bearer, 401, 'SOL_ERR_AUTH_SESSION_REQUIRED');
    expect(bearer.body.message).toMatch(/only from a console session/);
    expectError(await get('/api/dead-letters'), 401, 'SOL_ERR_AUTH_SESSION_REQUIRED');
    expect((await get('/api/dead-letters', asSession())).status).toBe(200);
    const replay = (headers: Record<string, string>) =>
      fetch(`${s.url}/api/dead-letters/replay`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ all: true }) }).then(json);
    expectError(await replay({ authorization: `Bearer ${s.secretKey}` }), 401, 'SOL_ERR_AUTH_SESSION_REQUIRED');
    expectError(await replay(asSession()), 403, 'SOL_ERR_AUTH_CSRF');
    expectError(await replay({ ...asSession(), 'x-solute-csrf': 'x'.repeat(43) }), 403, 'SOL_ERR_AUTH_CSRF');
    expectError(await replay({ ...asSession(), 'x-solute-csrf': session.csrf, 'sec-fetch-site': 'same-site' }), 403, 'SOL_ERR_AUTH_CSRF');
    expect((await replay({ ...asSession(), 'x-solute-csrf': session.csrf })).status).toBe(200);
  });

  it('live: acknowledged events arrive in one stream message per flush, with the duplicate flag, filtered by user, and resumed after a reconnect', async () => {
    const stream = await openSse(`${s.url}/api/console/live`, asSession());
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const mine = await openSse(`${s.url}/api/console/live?user=live-user`, asSession());
    const [a, b] = [makeEvent({ userId: 'live-user', event: 'Live A' }), makeEvent({ userId: 'someone-else', event: 'Live B' })];
    const r = await postEvents(s.url, s.writeKey, { batch: [a, b], sentAt: now() });
    const acked = Date.now();
    expect(r.body).toMatchObject({ processed: 2 });
    const m = await stream.waitFor((x) => x.event === 'events' && x.data.includes(String(b.messageId)));
    const latency = Date.now() - acked;
    const rows = liveRows(stream).filter((x) => [a.messageId, b.messageId].includes(x.event.messageId));
    expect(rows.map((x) => [x.event.event, x.duplicate])).toEqual([['Live A', false], ['Live B', false]]);
    // As acknowledged: the times Solute set are there.
    for (const x of rows) for (const f of ['timestamp', 'originalTimestamp', 'sentAt', 'receivedAt']) expect(typeof x.event[f]).toBe('string');
    expect(m.id).toMatch(/^[0-9a-f]{8}-\d+$/);
    process.stderr.write(`console live: first event ${latency} ms after its acknowledgement\n`);

    const dup = await postEvents(s.url, s.writeKey, { batch: [a], sentAt: now() });
    expect(dup.body).toMatchObject({ processed: 1, duplicates: 1 });
    await stream.waitFor((x) => x.event === 'events' && JSON.parse(x.data).some((e: any) => e.duplicate && e.event.messageId === a.messageId));
    await mine.waitFor((x) => x.event === 'events' && JSON.parse(x.data).some((e: any) => e.duplicate));
    expect(liveRows(mine).map((x) => x.event.userId)).toEqual(['live-user', 'live-user']);
    mine.close();

    // Reconnect: the stream resumes after the last id it saw.
    const lastId = stream.messages.filter((x) => x.event === 'events').at(-1)!.id!;
    stream.close();
    const missed = [makeEvent({ event: 'While Away 1' }), makeEvent({ event: 'While Away 2' })];
    await postEvents(s.url, s.writeKey, { batch: missed, sentAt: now() });
    await new Promise((res) => setTimeout(res, 500)); // past a flush: they are in the ring, not in flight
    const resumed = await openSse(`${s.url}/api/console/live`, { ...asSession(), 'last-event-id': lastId });
    await resumed.waitFor((x) => x.event === 'events');
    expect(liveRows(resumed).map((x) => x.event.event)).toEqual(['While Away 1', 'While Away 2']);
    resumed.close();
  });

  it('live streams are capped per process (503 SOL_ERR_CONSOLE_BUSY past SOLUTE_CONSOLE_LIVE_SUBSCRIBERS) and need a session', async () => {
    expectError(await get('/api/console/live', { authorization: `Bearer ${s.secretKey}` }), 401, 'SOL_ERR_AUTH_SESSION_REQUIRED');
    // Streams of the previous test may still be closing on the server side: wait until all 4 fit.
    const open = [];
    const deadline = Date.now() + 5000;
    while (open.length < 4) {
      const x = await openSse(`${s.url}/api/console/live`, asSession());
      if (x.status === 200) open.push(x);
      else if (Date.now() > deadline) throw new Error(`only ${open.length} streams fit`);
      else await new Promise((res) => setTimeout(res, 100));
    }
    const fifth = await get('/api/console/live', asSession());
    expectError(fifth, 503, 'SOL_ERR_CONSOLE_BUSY');
    for (const x of open) x.close();
  });

  it('health reports ack latency, backlog and rejected events by code, as /metrics does', async () => {
    const big = makeEvent({ properties: { blob: 'x'.repeat(40_000) } });
    const r = await postEvents(s.url, s.writeKey, { batch: [makeEvent(), makeEvent({ type: 'nope' }), big], sentAt: now() });
    expect(r.body).toMatchObject({ processed: 1, failed: 2 });
    await waitForDrain(s.url);
    const h = await get('/api/console/health', asSession());
    expect(h.status).toBe(200);
    const text = await metricsText(s.url);
    for (const code of ['SOL_ERR_EVENT_INVALID', 'SOL_ERR_EVENT_TOO_LARGE']) {
      const fromMetrics = metricValue(text, 'solute_events_rejected_total', { code });
      expect(fromMetrics).toBeGreaterThanOrEqual(1);
      expect(h.body.rejected.find((x: any) => x.code === code)?.count).toBe(fromMetrics);
    }
    expect(h.body.ackLatency.count).toBe(metricValue(text, 'solute_ack_latency_seconds_count', { route: '/api/events' }));
    expect(h.body.ackLatency.p50).toBeGreaterThan(0);
    expect(h.body.ackLatency.p99).toBeGreaterThanOrEqual(h.body.ackLatency.p50);
    expect(h.body.backlog).toBe(0);
    expect(h.body.events.accepted).toBe(metricValue(text, 'solute_events_accepted_total'));
    // With a secret key too (read-only figures).
    expect((await get('/api/console/health', { authorization: `Bearer ${s.secretKey}` })).status).toBe(200);
  });

  it('dead letters: listed for the session with step and reason, and replayed once the cause is fixed', async () => {
    processing.breakAgain();
    const poison = makeEvent({ event: 'Poisoned', properties: { poison: true } });
    await postEvents(s.url, s.writeKey, { batch: [poison], sentAt: now() });
    await waitForDrain(s.url);
    const list = await get('/api/dead-letters', asSession());
    const d = list.body.deadLetters.find((x: any) => x.event?.messageId === poison.messageId);
    expect(d).toMatchObject({ step: 'check', reason: 'poisoned by the test', attempts: 1, event: { event: 'Poisoned' } });
    processing.fix();
    const replay = await fetch(`${s.url}/api/dead-letters/replay`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...asSession(), 'x-solute-csrf': session.csrf },
      body: JSON.stringify({ ids: [d.id] }),
    }).then(json);
    expect(replay.body).toEqual({ stored: 1, failed: 0, missing: 0 });
    expect((await readAllEvents(s.url, s.secretKey)).filter((e) => e.messageId === poison.messageId)).toHaveLength(1);
    expect((await get('/api/dead-letters', asSession())).body.deadLetters.find((x: any) => x.id === d.id)).toBeUndefined();
  });

  it('sign-out ends the session on the server (CSRF-checked); revoking the key ends its sessions and their live streams', async () => {
    const mine = await signIn(s.url, s.secretKey);
    const del = (headers: Record<string, string>) => fetch(`${s.url}/api/console/session`, { method: 'DELETE', headers: { ...asSession(mine), ...headers } });
    expectError(await json(await del({})), 403, 'SOL_ERR_AUTH_CSRF');
    const out = await del({ 'x-solute-csrf': mine.csrf });
    expect(out.status).toBe(204);
    expect(out.headers.get('set-cookie')).toMatch(/^solute_session=; Path=\/; Max-Age=0/);
    expectError(await get('/api/events', asSession(mine)), 401, 'SOL_ERR_AUTH_SESSION_REQUIRED');

    const key = cli(s.dataDir, 'keys', 'create', '--project', 'test', '--secret');
    const doomed = await signIn(s.url, key);
    const stream = await openSse(`${s.url}/api/console/live`, asSession(doomed));
    expect(stream.status).toBe(200);
    cli(s.dataDir, 'keys', 'revoke', key.slice(0, 11));
    const revoked = Date.now();
    expectError(await get('/api/events', asSession(doomed)), 401, 'SOL_ERR_AUTH_SESSION_REQUIRED');
    await stream.waitFor((x) => x.event === 'signedout', 5000);
    await stream.ended;
    process.stderr.write(`console: live stream ended ${Date.now() - revoked} ms after the revocation (SOLUTE_KEY_REFRESH_MS 100)\n`);
    expect((await get('/api/events?limit=1', asSession())).status).toBe(200); // other keys' sessions go on
  });
});

describe('console sessions and shutdown', () => {
  it('a session ends after SOLUTE_CONSOLE_SESSION_MS; closing the server does not wait for open live streams', async () => {
    const s = await startTestServer({ consoleSessionMs: 1000 });
    try {
      const x = await signIn(s.url, s.secretKey);
      expect(x.setCookie).toContain('Max-Age=1;');
      expect((await fetch(`${s.url}/api/events?limit=1`, { headers: { cookie: x.cookie } })).status).toBe(200);
      await new Promise((r) => setTimeout(r, 1100));
      const after = await fetch(`${s.url}/api/events?limit=1`, { headers: { cookie: x.cookie } }).then(json);
      expectError(after, 401, 'SOL_ERR_AUTH_SESSION_REQUIRED');
      const y = await signIn(s.url, s.secretKey);
      const stream = await openSse(`${s.url}/api/console/live`, { cookie: y.cookie });
      expect(stream.status).toBe(200);
      const started = Date.now();
      await s.close();
      await stream.ended;
      expect(Date.now() - started).toBeLessThan(5000); // not the idle timeout (60 s) nor the shutdown deadline (10 s)
    } finally {
      await s.close();
    }
  });
});
