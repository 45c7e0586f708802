// @solute-ai/sdk (packages/sdk, as built into dist/ and resolved through its package.json `exports`) in
// Node against a real Solute: the calls, the wire format, retries, splits, refusals, a 100,000-event
// burst, and a process that exits by itself after close().
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { createSolute, type SoluteError } from '@solute-ai/sdk';
import { ROOT, startTestServer, type TestServer } from '../helpers/solute.js';
import { readAll, waitStored } from '../helpers/assertions.js';
import { recordingProxy, type RecordingProxy } from '../helpers/recording-proxy.js';

const SDK_VERSION = JSON.parse(fs.readFileSync(path.join(ROOT, 'packages/sdk/package.json'), 'utf8')).version as string;

/** Runs an ES module script in a new Node process (cwd: the repository, so '@solute-ai/sdk' resolves). */
function runNode(script: string, env: Record<string, string>, input: 'module' | 'commonjs' = 'module'): Promise<{ code: number | null; stdout: string; stderr: string; lineAt: number; exitAt: number }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [`--input-type=${input}`, '-e', script], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let lineAt = 0;
    p.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (!lineAt && stdout.includes('\n')) lineAt = Date.now();
    });
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.on('exit', (code) => resolve({ code, stdout, stderr, lineAt, exitAt: Date.now() }));
  });
}

describe('@solute-ai/sdk in Node against Solute', () => {
  let s: TestServer;
  let proxy: RecordingProxy;
  beforeAll(async () => {
    s = await startTestServer();
    proxy = await recordingProxy(s.url);
  });
  afterAll(async () => {
    await proxy?.close();
    await s?.close();
  });

  it('every call type is stored once, sent as the spec says (POST /api/events, X-Api-Key, {batch, sentAt})', async () => {
    const from = proxy.hits.length;
    const errors: SoluteError[] = [];
    const sdk = createSolute({ writeKey: s.writeKey, host: proxy.url, onError: (e) => errors.push(e) });
    const anon = sdk.anonymousId;
    const userId = `user_${randomUUID()}`;
    sdk.track('Button Clicked', { button_id: 'cta-signup' });
    sdk.identify(userId, { plan: 'pro' });
    sdk.page('Pricing', { path: '/pricing' }, { category: 'Docs' });
    sdk.group('acme', { name: 'Acme Inc' });
    sdk.alias(`${userId}_new`);
    expect(sdk.userId).toBe(`${userId}_new`);
    await sdk.flush();
    await sdk.close();
    expect(errors).toEqual([]);
    await waitStored(s.url);
    const events = (await readAll(s.url, s.secretKey, { anonymousId: anon })).reverse();
    expect(events.map((e) => e.type)).toEqual(['track', 'identify', 'page', 'group', 'alias']);
    const [track, identify, page, group, alias] = events;
    expect(track).toMatchObject({ event: 'Button Clicked', properties: { button_id: 'cta-signup' } });
    expect(track.userId).toBeUndefined();
    expect(identify).toMatchObject({ userId, traits: { plan: 'pro' } });
    expect(page).toMatchObject({ userId, name: 'Pricing', category: 'Docs', properties: { path: '/pricing' } });
    expect(group).toMatchObject({ userId, groupId: 'acme', traits: { name: 'Acme Inc' } });
    expect(alias).toMatchObject({ userId: `${userId}_new`, previousId: userId });
    for (const e of events) {
      expect(e.anonymousId).toBe(anon);
      expect(e.messageId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(e.context.library).toEqual({ name: '@solute-ai/sdk', version: SDK_VERSION });
      expect(e.context.timezone).toBe(Intl.DateTimeFormat().resolvedOptions().timeZone);
      expect(typeof e.context.locale).toBe('string');
      // One process serves many users in Node: no session unless asked for.
      expect(e.context).not.toHaveProperty('sessionId');
      expect(Math.abs(Date.parse(e.timestamp) - Date.parse(e.receivedAt))).toBeLessThan(10_000);
    }
    const posts = proxy.hits.slice(from).filter((h) => h.method === 'POST');
    expect(posts).toHaveLength(1); // five calls, under flushAt: one batch at flush()
    for (const h of posts) {
      expect(h.path).toBe('/api/events');
      expect(h.headers['x-api-key']).toBe(s.writeKey);
      expect(h.headers['content-type']).toBe('application/json');
      expect(h.status).toBe(200);
      const body = JSON.parse(h.body);
      expect(Object.keys(body)).toEqual(['batch', 'sentAt']);
      expect(Date.parse(body.sentAt)).toBeGreaterThan(Date.now() - 60_000);
      expect(body.batch.map((e: any) => e.messageId)).toEqual(events.map((e) => e.messageId));
    }
  });

  it('503 then 200: the same batch (same messageIds, new sentAt) is retried after Retry-After, and stored once', async () => {
    const from = proxy.hits.length;
    proxy.refuse(2, { status: 503, headers: { 'retry-after': '1' } });
    const errors: SoluteError[] = [];
    const sdk = createSolute({ writeKey: s.writeKey, host: proxy.url, retryDelay: 10, onError: (e) => errors.push(e) });
    const run = randomUUID();
    for (let i = 0; i < 5; i++) sdk.track('Retried', { run, i });
    await sdk.close();
    expect(errors).toEqual([]);
    const posts = proxy.hits.slice(from).filter((h) => h.method === 'POST');
    expect(posts.map((h) => h.status)).toEqual([503, 503, 200]);
    const bodies = posts.map((h) => JSON.parse(h.body));
    for (const b of bodies) expect(b.batch.map((e: any) => e.messageId)).toEqual(bodies[0].batch.map((e: any) => e.messageId));
    expect(new Set(bodies.map((b) => b.sentAt)).size).toBe(3);
    // Retry-After: 1 (seconds) wins over the 10 ms backoff.
    expect(posts[1].at - posts[0].at).toBeGreaterThanOrEqual(950);
    expect(posts[2].at - posts[1].at).toBeGreaterThanOrEqual(950);
    await waitStored(s.url);
    const stored = (await readAll(s.url, s.secretKey, { event: 'Retried' })).filter((e) => e.properties.run === run);
    expect(stored.map((e) => e.properties.i).sort()).toEqual([0, 1, 2, 3, 4]);
  });

  it('a dropped connection and 429 are retried with backoff; after maxRetries the events stay queued, onError is told, and a later flush delivers them', async () => {
    const from = proxy.hits.length;
    proxy.refuse(3, { status: 0 });
    const errors: SoluteError[] = [];
    const sdk = createSolute({ writeKey: s.writeKey, host: proxy.url, retryDelay: 20, maxRetries: 2, onError: (e) => errors.push(e) });
    const run = randomUUID();
    sdk.track('Given Up Then Sent', { run });
    await sdk.flush();
    expect(errors.map((e) => [e.type, e.events.length])).toEqual([['retry', 1]]);
    proxy.refuse(1, { status: 429 });
    await sdk.close();
    expect(errors).toHaveLength(1);
    const posts = proxy.hits.slice(from).filter((h) => h.method === 'POST');
    expect(posts.map((h) => h.status)).toEqual([0, 0, 0, 429, 200]);
    expect(new Set(posts.map((h) => JSON.parse(h.body).batch[0].messageId)).size).toBe(1);
    await waitStored(s.url);
    expect((await readAll(s.url, s.secretKey, { event: 'Given Up Then Sent' })).filter((e) => e.properties.run === run)).toHaveLength(1);
  });

  it('per-event errors drop only those events (onError), the rest is stored, nothing is retried', async () => {
    const from = proxy.hits.length;
    const errors: SoluteError[] = [];
    const sdk = createSolute({ writeKey: s.writeKey, host: proxy.url, onError: (e) => errors.push(e) });
    const run = randomUUID();
    sdk.track('Mixed', { run, i: 0 });
    sdk.track('Mixed', { run, i: 1, blob: 'x'.repeat(40_000) }); // over Solute's 32 KB per event
    sdk.track('Mixed', { run, i: 2 });
    await sdk.close();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ type: 'event', status: 200, code: 'SOL_ERR_EVENT_TOO_LARGE' });
    expect(errors[0].events.map((e) => e.properties?.i)).toEqual([1]);
    expect(proxy.hits.slice(from).filter((h) => h.method === 'POST')).toHaveLength(1);
    await waitStored(s.url);
    const stored = (await readAll(s.url, s.secretKey, { event: 'Mixed' })).filter((e) => e.properties.run === run);
    expect(stored.map((e) => e.properties.i).sort()).toEqual([0, 2]);
  });

  it('a 400 for a batch with no valid event drops each event with its own error, and is not retried', async () => {
    const from = proxy.hits.length;
    const errors: SoluteError[] = [];
    // beforeSend may return anything: here, events Solute must refuse (a timestamp without a time zone).
    const sdk = createSolute({ writeKey: s.writeKey, host: proxy.url, onError: (e) => errors.push(e), beforeSend: (e) => ({ ...e, timestamp: '2025-01-15 10:30' }) });
    sdk.track('Bad Time', { i: 0 });
    sdk.track('Bad Time', { i: 1 });
    await sdk.close();
    expect(errors.map((e) => [e.type, e.status, e.code, e.events[0].properties?.i])).toEqual([
      ['event', 400, 'SOL_ERR_EVENT_INVALID', 0],
      ['event', 400, 'SOL_ERR_EVENT_INVALID', 1],
    ]);
    expect(proxy.hits.slice(from).filter((h) => h.method === 'POST').map((h) => h.status)).toEqual([400]);
  });

  it('the queue is bounded: past maxQueueEvents or maxQueueBytes the oldest events are dropped and reported', async () => {
    for (const bound of [{ maxQueueEvents: 3 }, { maxQueueBytes: 3 * 1100 }]) {
      const errors: SoluteError[] = [];
      const sdk = createSolute({ writeKey: s.writeKey, host: proxy.url, flushAt: 100, ...bound, onError: (e) => errors.push(e) });
      const run = randomUUID();
      for (let i = 0; i < 5; i++) sdk.track('Bounded', { run, i, pad: 'b'.repeat(700) }); // ~1 KB each
      await sdk.close();
      expect(errors.every((e) => e.type === 'drop')).toBe(true);
      expect(errors.flatMap((e) => e.events.map((ev) => ev.properties?.i))).toEqual([0, 1]);
      await waitStored(s.url);
      const stored = (await readAll(s.url, s.secretKey, { event: 'Bounded' })).filter((e) => e.properties.run === run);
      expect(stored.map((e) => e.properties.i).sort()).toEqual([2, 3, 4]);
    }
  });

  it('401 (unknown key) and 403 (a secret key) are reported and not retried', async () => {
    for (const [key, status, code] of [
      ['wk_unknown', 401, 'SOL_ERR_AUTH_INVALID_KEY'],
      [s.secretKey, 403, 'SOL_ERR_AUTH_WRONG_KEY_KIND'],
    ] as const) {
      const from = proxy.hits.length;
      const errors: SoluteError[] = [];
      const sdk = createSolute({ writeKey: key, host: proxy.url, retryDelay: 10, onError: (e) => errors.push(e) });
      sdk.track('Refused');
      sdk.track('Refused');
      await sdk.close();
      expect(errors.map((e) => [e.type, e.status, e.code, e.events.length])).toEqual([['batch', status, code, 2]]);
      expect(proxy.hits.slice(from).filter((h) => h.method === 'POST')).toHaveLength(1);
    }
  });

  it('413 splits the batch until it fits; a single event that still does not fit is dropped and reported', async () => {
    const from = proxy.hits.length;
    // Solute itself answers the 413s: its body limit here is 64 KiB.
    const small = await startTestServer({ bodyLimitBytes: 64 * 1024 });
    const p = await recordingProxy(small.url);
    try {
      const errors: SoluteError[] = [];
      const sdk = createSolute({ writeKey: small.writeKey, host: p.url, flushAt: 1000, onError: (e) => errors.push(e) });
      for (let i = 0; i < 40; i++) sdk.track('Split', { i, pad: 'p'.repeat(5_000) }); // ~200 KB in all
      await sdk.close();
      expect(errors).toEqual([]);
      const posts = p.hits.filter((h) => h.method === 'POST');
      expect(posts[0].status).toBe(413);
      expect(JSON.parse(posts[0].body).batch).toHaveLength(40);
      const ok = posts.filter((h) => h.status === 200);
      expect(ok.every((h) => h.body.length <= 64 * 1024)).toBe(true);
      // Up to four batches are sent at once in Node, so they may arrive in any order.
      expect(ok.flatMap((h) => JSON.parse(h.body).batch.map((e: any) => e.properties.i)).sort((a, b) => a - b)).toEqual([...Array(40).keys()]);
      await waitStored(small.url);
      expect(await readAll(small.url, small.secretKey, { event: 'Split' })).toHaveLength(40);

      const errs2: SoluteError[] = [];
      const sdk2 = createSolute({ writeKey: small.writeKey, host: p.url, onError: (e) => errs2.push(e) });
      sdk2.track('Too Big', { pad: 'p'.repeat(70_000) });
      sdk2.track('Fine');
      await sdk2.close();
      expect(errs2.map((e) => [e.type, e.status, e.events[0]?.event])).toEqual([['batch', 413, 'Too Big']]);
      await waitStored(small.url);
      expect(await readAll(small.url, small.secretKey, { event: 'Fine' })).toHaveLength(1);
    } finally {
      await p.close();
      await small.close();
    }
    expect(proxy.hits.length).toBe(from);
  });

  it('beforeSend can change or drop events; optOut() discards the queue and ignores calls until optIn()', async () => {
    const sdk = createSolute({
      writeKey: s.writeKey,
      host: proxy.url,
      beforeSend: (e) => (e.event === 'Secret' ? null : { ...e, properties: { ...e.properties, scrubbed: true } }),
    });
    const run = randomUUID();
    sdk.track('Kept', { run });
    sdk.track('Secret', { run });
    sdk.optOut();
    sdk.track('Kept', { run, optedOut: true });
    sdk.optIn();
    sdk.track('Kept', { run, again: true });
    await sdk.close();
    await waitStored(s.url);
    const stored = (await readAll(s.url, s.secretKey, { event: 'Kept' })).filter((e) => e.properties.run === run);
    expect(stored.map((e) => e.properties)).toEqual([{ run, again: true, scrubbed: true }]);
    expect(await readAll(s.url, s.secretKey, { event: 'Secret' })).toEqual([]);
  });

  it('100,000 track calls as fast as possible (in another process): all stored exactly once; after close() the process has nothing left and exits by itself', async () => {
    const run = randomUUID();
    const N = 100_000;
    const script = `
      import { createSolute } from '@solute-ai/sdk';
      const errors = [];
      // close() gets all the time it needs here: what is checked is that everything arrives once, not how fast
      // a shared, loaded test machine stores it (about 10 s for the 100k when it is quiet).
      const sdk = createSolute({ writeKey: process.env.WK, host: process.env.HOST, closeTimeout: 300000, onError: (e) => errors.push([e.type, e.message, e.events.length]) });
      const t0 = performance.now();
      for (let i = 0; i < ${N}; i++) sdk.track('Burst', { run: process.env.RUN, i });
      const callsMs = performance.now() - t0;
      await sdk.close();
      const closeMs = performance.now() - t0;
      console.log(JSON.stringify({ callsMs, closeMs, errors, resources: process.getActiveResourcesInfo() }));
    `;
    const r = await runNode(script, { WK: s.writeKey, HOST: s.url, RUN: run });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    console.info(`100k burst: calls ${Math.round(out.callsMs)} ms, delivered by close() at ${Math.round(out.closeMs)} ms; exited ${r.exitAt - r.lineAt} ms after`);
    expect(out.errors).toEqual([]);
    // No timer is left (unref'd ones are not listed), and nothing else holds the process: fetch's idle
    // keep-alive sockets are listed but unref'd, and the process ends on its own right after.
    expect(out.resources).not.toContain('Timeout');
    // Well under the SDK's shortest timer (flushInterval, 5 s): a timer left behind would hold it that long.
    expect(r.exitAt - r.lineAt).toBeLessThan(4_000);
    // Solute acknowledged them all by now; storing them is its processor's pace, slow on a loaded machine.
    await waitStored(s.url, 300_000);
    const stored = (await readAll(s.url, s.secretKey, { event: 'Burst' })).filter((e) => e.properties.run === run);
    expect(stored).toHaveLength(N);
    expect(new Set(stored.map((e) => e.messageId)).size).toBe(N);
    const seen = new Uint8Array(N);
    for (const e of stored) seen[e.properties.i]++;
    expect(seen.every((c) => c === 1)).toBe(true);
  }, 600_000);

  it('a process that tracks and never calls close() still exits at once (timers do not hold it); CJS require works', async () => {
    const script = `
      const { createSolute } = require('@solute-ai/sdk');
      const sdk = createSolute({ writeKey: 'wk_x', host: 'http://127.0.0.1:9', flushInterval: 60000 });
      sdk.track('Never Sent');
      console.log(typeof createSolute);
    `;
    const started = Date.now();
    const r = await runNode(script, {}, 'commonjs');
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('function');
    expect(r.code).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
