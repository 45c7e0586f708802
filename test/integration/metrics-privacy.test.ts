// /metrics needs no key (SECURITY.md: expose it to the monitoring network only), so it must name no
// project: after traffic of every kind from a project with a distinctive name (accepted, duplicate and
// invalid events, a rate-limited 429, /v1 with the key in the URL, reads, refusals, unknown routes
// spelled with the name), the scrape holds neither the name nor any key, and no `project` label.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, makeEvent, postEvents, sleep, startTestServer, waitForDrain, type TestServer } from '../helpers/solute.js';
import { getJson, metricValue, metricsText } from '../helpers/assertions.js';
import { postV1 } from '../helpers/v1.js';

const NAME = 'Quokka-Zebra_4711.private';

describe('/metrics names no project', () => {
  let s: TestServer;
  let write: string;
  let secret: string;
  beforeAll(async () => {
    s = await startTestServer({ keyRefreshMs: 100 });
    write = cli(s.dataDir, 'keys', 'create', '--project', NAME);
    secret = cli(s.dataDir, 'keys', 'create', '--project', NAME, '--secret');
  });
  afterAll(() => s.close());

  it('after traffic of every kind from a project, holds neither its name, nor its keys, nor a project label', async () => {
    const auth = { authorization: `Bearer ${secret}` };
    const sentAt = () => new Date().toISOString();
    // Events that carry the name as data too: ids, event names, group, traits.
    const e = (over: Record<string, unknown> = {}) => makeEvent({ userId: NAME, event: `${NAME} clicked`, ...over });
    const dup = e();
    expect((await postEvents(s.url, write, { batch: [dup, e(), e({ type: 'identify', event: undefined, traits: { [NAME]: NAME } })], sentAt: sentAt() })).status).toBe(200);
    expect((await postEvents(s.url, write, { batch: [dup, e({ type: 'group', event: undefined, groupId: NAME })], sentAt: sentAt() })).body.duplicates).toBe(1);
    expect((await postEvents(s.url, write, { batch: [e({ type: 'nonsense' })], sentAt: sentAt() })).status).toBe(400);
    expect((await postV1(s.url, `/v1/track?writeKey=${write}`, { event: NAME, userId: NAME })).status).toBe(200);
    await waitForDrain(s.url);

    // A rate limit, and a batch past it.
    cli(s.dataDir, 'limits', 'set', '--project', NAME, '--events-per-second', '1', '--burst', '2');
    // The server reloads settings every 100 ms here; until then batches pass.
    const deadline = Date.now() + 10_000;
    while ((await postEvents(s.url, write, { batch: [e(), e(), e()], sentAt: sentAt() })).status !== 429) {
      expect(Date.now()).toBeLessThan(deadline);
      await sleep(50);
    }

    // Reads, found and not, and refusals.
    expect((await getJson(s.url, `/api/profiles/${encodeURIComponent(NAME)}`, auth)).status).toBe(200);
    expect((await getJson(s.url, `/api/groups/${encodeURIComponent(NAME)}`, auth)).status).toBe(200);
    expect((await getJson(s.url, `/api/profiles/${encodeURIComponent(NAME)}-nobody`, auth)).status).toBe(404);
    expect((await getJson(s.url, `/api/events?event=${encodeURIComponent(NAME)}`, auth)).status).toBe(200);
    expect((await getJson(s.url, `/api/profiles?trait=${encodeURIComponent(NAME)}`, auth)).status).toBe(200);
    expect((await getJson(s.url, `/api/events?${encodeURIComponent(NAME)}=1`, auth)).status).toBe(400);
    expect((await getJson(s.url, '/api/events', { authorization: `Bearer ${write}` })).status).toBe(403);
    expect((await getJson(s.url, `/api/${NAME}`, auth)).status).toBe(404);
    expect((await getJson(s.url, `/${NAME}/metrics`)).status).toBe(404);

    const text = await metricsText(s.url);
    // The traffic is there: the metrics are not empty of what the project did.
    expect(metricValue(text, 'solute_events_rate_limited_total')).toBe(3);
    expect(metricValue(text, 'solute_events_duplicate_total')).toBe(1);
    expect(metricValue(text, 'solute_events_rejected_total')).toBe(1);
    // ... and nothing names the project or carries its keys.
    const lower = text.toLowerCase();
    // (Not the digits alone: a byte count may hold them by chance.)
    for (const part of [NAME, 'quokka', 'zebra', write, secret, write.slice(0, 11), secret.slice(0, 11)]) {
      expect(lower, `/metrics contains ${part}`).not.toContain(part.toLowerCase());
    }
    expect(text).not.toMatch(/[{,]\s*project\s*=/);
  });
});
