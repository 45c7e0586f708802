// Per-project rate limits (bin/solute limits): counted in events, set while the server runs, 429
// with Retry-After and the budget headers, nothing of a refused batch stored, on /api/events and /v1.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, makeEvent, postEvents, readAllEvents, sleep, startTestServer, waitForDrain, type Answer, type TestServer } from '../helpers/solute.js';
import { basic, postV1 } from '../helpers/v1.js';

const REFRESH_MS = 100;

describe('per-project rate limit', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ keyRefreshMs: REFRESH_MS });
  });
  afterAll(() => s.close());

  /** A new project with its own write and secret key: each test starts from a bucket of its own. */
  function project(name: string) {
    return {
      name,
      write: cli(s.dataDir, 'keys', 'create', '--project', name),
      secret: cli(s.dataDir, 'keys', 'create', '--project', name, '--secret'),
    };
  }
  const batchOf = (n: number, extra: Record<string, unknown> = {}) => ({
    batch: Array.from({ length: n }, () => makeEvent(extra)),
    sentAt: new Date().toISOString(),
  });
  const budget = (a: Answer) => ({
    limit: a.headers.get('ratelimit-limit'),
    remaining: a.headers.get('ratelimit-remaining'),
    reset: a.headers.get('ratelimit-reset'),
    retryAfter: a.headers.get('retry-after'),
  });
  async function rateLimitedTotal(): Promise<number> {
    const m = /^solute_events_rate_limited_total (\d+)$/m.exec(await (await fetch(`${s.url}/metrics`)).text());
    expect(m, 'solute_events_rate_limited_total without labels').not.toBeNull();
    return Number(m![1]);
  }
  /** Sets a limit and waits until the server has reloaded its settings (one refresh tick, plus margin). */
  async function setLimit(name: string, eps: number, burst?: number): Promise<void> {
    cli(s.dataDir, 'limits', 'set', '--project', name, '--events-per-second', String(eps), ...(burst ? ['--burst', String(burst)] : []));
    await sleep(3 * REFRESH_MS);
  }

  it('is off by default: full batches back to back all pass, without budget headers', async () => {
    const p = project('unlimited');
    for (let i = 0; i < 20; i++) {
      const r = await postEvents(s.url, p.write, batchOf(100));
      expect(r.status).toBe(200);
      expect(r.headers.get('ratelimit-limit')).toBeNull();
    }
  });

  it('set with the CLI while the server runs, takes effect within the key refresh interval', async () => {
    const p = project('live');
    expect((await postEvents(s.url, p.write, batchOf(1))).headers.get('ratelimit-limit')).toBeNull(); // settings cached
    const out = cli(s.dataDir, 'limits', 'set', '--project', 'live', '--events-per-second', '10');
    expect(out).toBe('project live: 10 events per second, 100 (default) at once');
    const setAt = Date.now();
    let first: Answer;
    for (;;) {
      first = await postEvents(s.url, p.write, batchOf(1));
      if (first.headers.get('ratelimit-limit') !== null) break;
      expect(Date.now() - setAt).toBeLessThan(REFRESH_MS + 1000);
      await sleep(10);
    }
    // The default burst is max(limit, batch limit) = 100: a full batch fits a full bucket.
    expect(budget(first)).toMatchObject({ limit: '100', remaining: '99' });
    expect((await postEvents(s.url, p.write, batchOf(99))).status).toBe(200);
    const refused = await postEvents(s.url, p.write, batchOf(100));
    expect(refused.status).toBe(429);
    expect(refused.body.code).toBe('SOL_ERR_RATE_LIMITED');
    // About 0 events left at 10 events/s: 100 fit again in 10 s.
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(9);
    expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(10);
    expect(cli(s.dataDir, 'limits', 'list')).toMatch(/^live\t10\t100 \(default\)$/m);
  });

  it('refuses a batch that does not fit with 429, exact headers, and stores nothing of it; the budget refills', async () => {
    const p = project('exact');
    const before = await rateLimitedTotal();
    await setLimit('exact', 1, 5); // one event per second, five at once

    const a = await postEvents(s.url, p.write, batchOf(3));
    expect(a.status).toBe(200);
    // 5 - 3 = 2 left; full again in 3 s at 1/s.
    expect(budget(a)).toEqual({ limit: '5', remaining: '2', reset: '3', retryAfter: null });

    const refusedBatch = batchOf(3);
    const b = await postEvents(s.url, p.write, refusedBatch);
    expect(b.status).toBe(429);
    expect(b.body).toEqual({
      success: false,
      code: 'SOL_ERR_RATE_LIMITED',
      message: expect.stringMatching(/^rate limit of this project reached \(1 events per second, 5 at once\): this batch of 3 events fits in 1 s; nothing of it was kept$/),
    });
    // ~2 left, 3 needed: 1 s until it fits; nothing was taken.
    expect(budget(b)).toEqual({ limit: '5', remaining: '2', reset: '3', retryAfter: '1' });

    // The budget refills: after Retry-After the same batch passes.
    await sleep(1000 * Number(b.headers.get('retry-after')) + 50);
    const c = await postEvents(s.url, p.write, refusedBatch);
    expect(c.status).toBe(200);
    expect(c.body).toMatchObject({ processed: 3, duplicates: 0 });
    expect(budget(c)).toEqual({ limit: '5', remaining: '0', reset: '5', retryAfter: null });

    // One more event is refused now, and is never stored.
    const neverStored = batchOf(1);
    expect((await postEvents(s.url, p.write, neverStored)).status).toBe(429);
    await waitForDrain(s.url);
    const stored = (await readAllEvents(s.url, p.secret)).map((e) => e.messageId);
    expect(stored).toHaveLength(6); // the first batch and the retried one, once each
    expect(stored).not.toContain(neverStored.batch[0].messageId);
    for (const e of refusedBatch.batch) expect(stored.filter((m) => m === e.messageId)).toHaveLength(1);

    // The 429s refused 3 + 1 events; the counter has no project label (/metrics is open), so compare totals.
    expect((await rateLimitedTotal()) - before).toBe(4);
  });

  it('counts events, not requests, and gives back what a request refused for another reason took', async () => {
    const p = project('count');
    await setLimit('count', 1, 5);
    // All five events invalid: 400, nothing kept, so nothing counted.
    const bad = await postEvents(s.url, p.write, batchOf(5, { type: 'nonsense' }));
    expect(bad.status).toBe(400);
    expect(bad.headers.get('ratelimit-remaining')).toBe('5');
    // A batch over the batch limit is refused as such (400), not as a rate limit.
    expect((await postEvents(s.url, p.write, batchOf(101))).body.code).toBe('SOL_ERR_BATCH_TOO_LARGE');
    const ok = await postEvents(s.url, p.write, batchOf(5));
    expect(ok.status).toBe(200);
    expect(ok.headers.get('ratelimit-remaining')).toBe('0');
    expect((await postEvents(s.url, p.write, batchOf(1))).status).toBe(429);
  });

  it('clear removes the limit', async () => {
    const p = project('cleared');
    await setLimit('cleared', 1, 1);
    expect((await postEvents(s.url, p.write, batchOf(1))).status).toBe(200);
    expect((await postEvents(s.url, p.write, batchOf(1))).status).toBe(429);
    expect(cli(s.dataDir, 'limits', 'clear', '--project', 'cleared')).toBe('project cleared: no rate limit');
    await sleep(3 * REFRESH_MS);
    for (let i = 0; i < 5; i++) {
      const r = await postEvents(s.url, p.write, batchOf(100));
      expect(r.status).toBe(200);
      expect(r.headers.get('ratelimit-limit')).toBeNull();
    }
    expect(cli(s.dataDir, 'limits', 'list')).not.toMatch(/^cleared\t/m);
  });

  it('applies on /v1: one event per single-event request, a batch by its length, the key from the body too', async () => {
    const p = project('segment');
    await setLimit('segment', 1, 2);
    const track = () => makeEvent({ type: undefined });
    const one = await postV1(s.url, '/v1/track', track(), { authorization: basic(p.write) });
    expect(one.status).toBe(200);
    expect(budget(one)).toEqual({ limit: '2', remaining: '1', reset: '1', retryAfter: null });
    const two = await postV1(s.url, '/v1/t', { ...track(), writeKey: p.write }); // key in the body: counted after the body auth
    expect(two.status).toBe(200);
    expect(two.headers.get('ratelimit-remaining')).toBe('0');
    const three = await postV1(s.url, '/v1/track', track(), { authorization: basic(p.write) });
    expect(three.status).toBe(429); // its own code, not turned into SOL_ERR_INGEST_SLOW_DOWN
    expect(three.body.code).toBe('SOL_ERR_RATE_LIMITED');
    expect(budget(three)).toMatchObject({ limit: '2', remaining: '0', retryAfter: '1' });

    // /v1/batch may exceed the bucket: it passes once the bucket is full and leaves it in debt.
    await sleep(2100);
    const big = await postV1(s.url, '/v1/batch', { batch: [track(), track(), track()].map((e) => ({ ...e, type: 'track' })) }, { authorization: basic(p.write) });
    expect(big.status).toBe(200);
    expect(big.body).toMatchObject({ processed: 3 });
    expect(budget(big)).toEqual({ limit: '2', remaining: '0', reset: '3', retryAfter: null });
    const after = await postV1(s.url, '/v1/track', track(), { authorization: basic(p.write) });
    expect(after.status).toBe(429);
    expect(after.headers.get('retry-after')).toBe('2'); // -1 tokens: 2 s until one event fits
  });

  it('lets browsers read the budget and Retry-After (CORS Expose-Headers), on 200 and 429', async () => {
    const p = project('browser');
    await setLimit('browser', 1, 1);
    const origin = { origin: 'https://app.example.com' };
    const ok = await postEvents(s.url, p.write, batchOf(1), origin);
    const refused = await postEvents(s.url, p.write, batchOf(1), origin);
    expect([ok.status, refused.status]).toEqual([200, 429]);
    for (const r of [ok, refused]) {
      expect(r.headers.get('access-control-allow-origin')).toBe('*');
      const exposed = (r.headers.get('access-control-expose-headers') ?? '').toLowerCase().split(/,\s*/);
      expect(exposed).toEqual(expect.arrayContaining(['retry-after', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset']));
    }
  });
});
