// Bounded state end to end (issue 13): `bin/solute serve` (the built server) with small bounds set
// through the environment; identifies and group calls past them over real HTTP. Every event is
// acknowledged and stored; what would pass a bound is not applied to the profile or group, and the
// warning shows on the profile or group, and in the counter.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, makeEvent, postEvents, readAllEvents, spawnServer, tempDir, waitForDrain, type ChildServer } from '../helpers/solute.js';
import { getJson, metricValue, metricsText } from '../helpers/assertions.js';

let server: ChildServer;
let writeKey: string;
let secretKey: string;

beforeAll(async () => {
  const dataDir = tempDir();
  writeKey = cli(dataDir, 'keys', 'create', '--project', 'bounds');
  secretKey = cli(dataDir, 'keys', 'create', '--project', 'bounds', '--secret');
  server = await spawnServer(dataDir, {
    SOLUTE_MAX_TRAITS: '4',
    SOLUTE_MAX_TRAITS_BYTES: '200',
    SOLUTE_MAX_LINKED_IDS: '3',
    SOLUTE_MAX_LINKED_IDS_BYTES: '100',
  });
});
afterAll(async () => {
  server.proc.kill('SIGTERM');
  await server.exited;
});

function ev(type: string, f: Record<string, unknown>): Record<string, unknown> {
  return makeEvent({ type, event: undefined, userId: undefined, anonymousId: undefined, properties: undefined, ...f });
}

/** Each batch in its own request, in order, each stored before the next. */
async function send(...batches: Array<Array<Record<string, unknown>>>): Promise<void> {
  for (const batch of batches) {
    const r = await postEvents(server.url, writeKey, { batch, sentAt: new Date().toISOString() });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ processed: batch.length, failed: 0 });
    await waitForDrain(server.url);
  }
}

const read = (p: string) => getJson(server.url, p, { authorization: `Bearer ${secretKey}` });
const bound = async (b: string, kind: string) => metricValue(await metricsText(server.url), 'solute_state_bounds_applied_total', { bound: b, kind });

describe('bounded state (SOLUTE_MAX_TRAITS=4, _BYTES=200, SOLUTE_MAX_LINKED_IDS=3, _BYTES=100)', () => {
  it('starts every counter at 0, with no project label', async () => {
    const text = await metricsText(server.url);
    for (const [b, kind] of [['traits', 'profile'], ['traits_bytes', 'profile'], ['traits', 'group'], ['traits_bytes', 'group'], ['linked_ids', 'profile'], ['linked_ids_bytes', 'profile']]) {
      expect(metricValue(text, 'solute_state_bounds_applied_total', { bound: b, kind }), `${b} ${kind}`).toBe(0);
    }
    expect(text).not.toMatch(/solute_state_bounds_applied_total\{[^}]*project=/);
  });

  it('applies the traits that fit, stores every identify, and shows what did not fit on the profile', async () => {
    const first = ev('identify', { userId: 'ada', traits: { a: 1, b: 2, c: 3 }, timestamp: '2026-02-01T00:00:00Z' });
    // An update of a trait it has (a) applies; of the new ones, one fits (d), two do not (e, f).
    const second = ev('identify', { userId: 'ada', traits: { a: 10, d: 4, e: 5, f: 6 }, timestamp: '2026-02-01T00:01:00Z' });
    // A value that would take the traits past 200 bytes does not apply; the event is stored all the same.
    const third = ev('identify', { userId: 'ada', traits: { b: 'x'.repeat(250) }, timestamp: '2026-02-01T00:02:00Z' });
    await send([first], [second], [third]);

    const p = await read('/api/profiles/ada');
    expect(p.status).toBe(200);
    expect(p.body.traits).toEqual({ a: 10, b: 2, c: 3, d: 4 });
    expect(p.body.eventCount).toBe(3);
    expect(p.body.warnings).toEqual([
      {
        code: 'SOL_WARN_TRAITS_TOO_MANY',
        count: 1,
        lastMessageId: second.messageId,
        lastTimestamp: expect.stringMatching(/^2026-02-01T00:01:00/),
        detail: '2 trait(s) not applied ("e", "f"): at most 4 traits per profile (SOLUTE_MAX_TRAITS)',
      },
      {
        code: 'SOL_WARN_TRAITS_TOO_LARGE',
        count: 1,
        lastMessageId: third.messageId,
        lastTimestamp: expect.stringMatching(/^2026-02-01T00:02:00/),
        detail: '1 trait(s) not applied ("b"): at most 200 bytes of traits per profile (SOLUTE_MAX_TRAITS_BYTES)',
      },
    ]);
    // Every event is stored as sent, the refused values included.
    const stored = await readAllEvents(server.url, secretKey);
    expect(stored.find((e) => e.messageId === third.messageId)?.traits).toEqual({ b: 'x'.repeat(250) });
    expect(await bound('traits', 'profile')).toBe(1);
    expect(await bound('traits_bytes', 'profile')).toBe(1);
  });

  it('refuses a merge past the linked-ids bound, like a refused merge: the profiles stay apart', async () => {
    await send(
      [ev('identify', { userId: 'bob', anonymousId: 'bob-phone' })],
      [ev('identify', { userId: 'bob', anonymousId: 'bob-laptop' })],
      [ev('track', { event: 'Opened', anonymousId: 'bob-tablet' })],
    );
    const refused = ev('identify', { userId: 'bob', anonymousId: 'bob-tablet', traits: { plan: 'pro' } });
    await send([refused]);
    const bob = await read('/api/profiles/bob');
    expect(bob.body).toMatchObject({ userId: 'bob', ids: ['bob', 'bob-laptop', 'bob-phone'], traits: { plan: 'pro' } });
    expect(bob.body.warnings).toEqual([expect.objectContaining({ code: 'SOL_WARN_LINKED_IDS_TOO_MANY', count: 1, lastMessageId: refused.messageId })]);
    // The tablet keeps its own (anonymous) profile and its event (the identify, with a userId, is bob's).
    expect((await read('/api/profiles/bob-tablet')).body).toMatchObject({ userId: null, ids: ['bob-tablet'], eventCount: 1, warnings: [] });
    expect(await bound('linked_ids', 'profile')).toBe(1);

    // Bytes: 60 + 60 bytes of ids are past 100.
    const [u, a] = ['u'.repeat(60), 'a'.repeat(60)];
    await send([ev('identify', { userId: u, anonymousId: a })]);
    expect((await read(`/api/profiles/${u}`)).body).toMatchObject({ ids: [u], warnings: [expect.objectContaining({ code: 'SOL_WARN_LINKED_IDS_TOO_LARGE' })] });
    expect(await bound('linked_ids_bytes', 'profile')).toBe(1);
  });

  it('bounds group traits the same way', async () => {
    const g = ev('group', { userId: 'ada', groupId: 'acme', traits: { a: 1, b: 2, c: 3, d: 4, e: 5 } });
    await send([g]);
    const r = await read('/api/groups/acme');
    expect(r.body).toMatchObject({ traits: { a: 1, b: 2, c: 3, d: 4 }, memberCount: 1 });
    expect(r.body.warnings).toEqual([expect.objectContaining({ code: 'SOL_WARN_TRAITS_TOO_MANY', count: 1, lastMessageId: g.messageId })]);
    expect(await bound('traits', 'group')).toBe(1);
  });
});
