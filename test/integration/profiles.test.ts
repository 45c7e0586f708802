// Identity resolution and groups end to end: events over real HTTP, processed into the real DuckDB
// store, read back through GET /api/profiles and /api/groups. Expected values are computed here from
// what the test sent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeEvent, postEvents, startTestServer, waitForDrain, type TestServer } from '../helpers/solute.js';
import { createKey, expectError, getJson } from '../helpers/assertions.js';

let s: TestServer;
const at = (iso: string) => iso;
/** Stored timestamps carry the clock-skew correction (receivedAt - sentAt, a few ms here): compare to the second. */
const sec = (iso: string | null) => iso?.slice(0, 19);

function ev(type: string, f: Record<string, unknown>): Record<string, unknown> {
  const base = makeEvent({ type, event: type === 'track' ? 'Clicked' : undefined, userId: undefined, anonymousId: undefined, properties: undefined, ...f });
  return base;
}

/** Sends each batch in its own request, in order, and waits until everything is stored. */
async function send(...batches: Array<Array<Record<string, unknown>>>): Promise<void> {
  for (const batch of batches) {
    const r = await postEvents(s.url, s.writeKey, { batch, sentAt: new Date().toISOString() });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.failed).toBe(0);
    // One segment per batch: the order of arrival is the order of processing.
    await waitForDrain(s.url);
  }
}

const profile = (id: string, qs = '') => getJson(s.url, `/api/profiles/${encodeURIComponent(id)}${qs}`, { authorization: `Bearer ${s.secretKey}` });
const group = (id: string, qs = '') => getJson(s.url, `/api/groups/${encodeURIComponent(id)}${qs}`, { authorization: `Bearer ${s.secretKey}` });
const search = (qs: string) => getJson(s.url, `/api/profiles?${qs}`, { authorization: `Bearer ${s.secretKey}` });

beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s.close();
});

describe('profiles', () => {
  it('attributes anonymous events sent before identify to the user once the link exists', async () => {
    const before = [0, 1, 2].map((i) => ev('track', { anonymousId: 'anon-A', timestamp: at(`2026-01-01T00:0${i}:00Z`) }));
    await send(before);
    // Before the link: the anonymous id is its own profile.
    const anon = await profile('anon-A');
    expect(anon.status).toBe(200);
    expect(anon.body).toMatchObject({ userId: null, ids: ['anon-A'], eventCount: 3 });

    await send([ev('identify', { userId: 'user-A', anonymousId: 'anon-A', traits: { plan: 'free' }, timestamp: at('2026-01-01T01:00:00Z') })]);
    await send([ev('track', { userId: 'user-A', timestamp: at('2026-01-01T02:00:00Z') })]);
    for (const id of ['user-A', 'anon-A']) {
      const p = await profile(id, '?recent=2');
      expect(p.status).toBe(200);
      expect(p.body).toMatchObject({
        userId: 'user-A',
        traits: { plan: 'free' },
        ids: ['anon-A', 'user-A'],
        eventCount: 5,
      });
      expect([sec(p.body.firstSeen), sec(p.body.lastSeen)]).toEqual(['2026-01-01T00:00:00', '2026-01-01T02:00:00']);
      expect(p.body.recentEvents.map((e: { timestamp: string }) => sec(e.timestamp))).toEqual(['2026-01-01T02:00:00', '2026-01-01T01:00:00']);
    }
  });

  it('keeps the latest trait by timestamp when identifies arrive out of order', async () => {
    await send(
      [ev('identify', { userId: 'user-B', traits: { plan: 'pro', email: 'b@new.example' }, timestamp: at('2026-02-02T00:00:00Z') })],
      [ev('identify', { userId: 'user-B', traits: { plan: 'free', name: 'Bee' }, timestamp: at('2026-02-01T00:00:00Z') })],
    );
    expect((await profile('user-B')).body.traits).toEqual({ plan: 'pro', email: 'b@new.example', name: 'Bee' });
  });

  it('follows an alias chain', async () => {
    await send(
      [ev('alias', { previousId: 'chain-1', userId: 'chain-2' })],
      [ev('alias', { previousId: 'chain-2', userId: 'user-C' })],
      [ev('identify', { userId: 'user-C', traits: { n: 3 } })],
      [ev('track', { anonymousId: 'chain-1' })],
    );
    const p = await profile('chain-1');
    expect(p.body).toMatchObject({ userId: 'user-C', ids: ['chain-1', 'chain-2', 'user-C'], traits: { n: 3 } });
    // identify, track and two alias events: alias events carry the userId they name.
    expect(p.body.eventCount).toBe(4);
  });

  it('refuses a merge of two identified users, keeps them apart, and still stores the event', async () => {
    await send(
      [ev('identify', { userId: 'user-D1', anonymousId: 'shared-device', traits: { who: 'd1' } })],
      [ev('identify', { userId: 'user-D2', anonymousId: 'shared-device', traits: { who: 'd2' } })],
    );
    const d1 = await profile('user-D1');
    const d2 = await profile('user-D2');
    expect(d1.body).toMatchObject({ ids: ['shared-device', 'user-D1'], traits: { who: 'd1' } });
    expect(d2.body).toMatchObject({ ids: ['user-D2'], traits: { who: 'd2' }, eventCount: 1 });
    // The anonymous id stays with the first user.
    expect((await profile('shared-device')).body.userId).toBe('user-D1');
  });

  it('searches profiles by trait with pagination', async () => {
    const users = Array.from({ length: 7 }, (_, i) => `search-${i}`);
    await send(users.map((u, i) => ev('identify', { userId: u, traits: { tier: i % 2 === 0 ? 'gold' : 'silver', rank: i } })));
    const gold = users.filter((_, i) => i % 2 === 0);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const r = await search(`trait=tier&value=gold&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(r.status).toBe(200);
      expect(r.body.profiles.length).toBeLessThanOrEqual(2);
      for (const p of r.body.profiles) {
        expect(p.traits.tier).toBe('gold');
        seen.push(p.userId);
      }
      cursor = r.body.nextCursor;
    } while (cursor);
    expect(seen.sort()).toEqual(gold.sort());
    // A trait alone: every profile that has it.
    const ranked = await search('trait=rank&limit=1000');
    expect(ranked.body.profiles.map((p: { userId: string }) => p.userId).sort()).toEqual([...users].sort());
    // Numbers match by their JSON text.
    const r = await search('trait=rank&value=3');
    expect(r.body.profiles.map((p: { userId: string }) => p.userId)).toEqual(['search-3']);
  });

  it('answers 404 for an unknown id, 400 for bad parameters, 403 for a write key', async () => {
    expectError(await profile('nobody-at-all'), 404, 'SOL_ERR_NOT_FOUND');
    expectError(await profile('user-A', '?recent=101'), 400, 'SOL_ERR_QUERY_INVALID_PARAM');
    expectError(await profile('user-A', '?colour=red'), 400, 'SOL_ERR_QUERY_INVALID_PARAM');
    expectError(await search('value=gold'), 400, 'SOL_ERR_QUERY_INVALID_PARAM');
    expectError(await search('cursor=bogus'), 400, 'SOL_ERR_QUERY_INVALID_PARAM');
    expectError(await search('limit=0'), 400, 'SOL_ERR_QUERY_INVALID_PARAM');
    const wk = await getJson(s.url, '/api/profiles/user-A', { authorization: `Bearer ${s.writeKey}` });
    expectError(wk, 403, 'SOL_ERR_AUTH_WRONG_KEY_KIND');
    expectError(await getJson(s.url, '/api/profiles/user-A'), 401, 'SOL_ERR_AUTH_MISSING_BEARER');
  });

  it('never shows another project its profiles', async () => {
    const other = createKey(s.dataDir, 'other', 'secret');
    const r = await getJson(s.url, '/api/profiles/user-A', { authorization: `Bearer ${other}` });
    expectError(r, 404, 'SOL_ERR_NOT_FOUND');
  });

  it('keeps odd ids and prototype-named traits as data', async () => {
    const odd = "we/ird id?&#% o'brien \"q\"";
    await send([ev('identify', { userId: odd, traits: { constructor: 'c', prototype: { x: 1 }, toString: 's' } })]);
    const p = await profile(odd);
    expect(p.status).toBe(200);
    expect(p.body.ids).toEqual([odd]);
    expect(p.body.traits).toEqual({ constructor: 'c', prototype: { x: 1 }, toString: 's' });
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });
});

describe('groups', () => {
  it('creates a group with merged traits and lists its members once each', async () => {
    await send(
      [ev('group', { groupId: 'acme', userId: 'g-user-1', traits: { plan: 'team', seats: 5 }, timestamp: at('2026-03-02T00:00:00Z') })],
      [
        ev('group', { groupId: 'acme', userId: 'g-user-2', traits: { plan: 'starter' }, timestamp: at('2026-03-01T00:00:00Z') }),
        ev('group', { groupId: 'acme', userId: 'g-user-1', timestamp: at('2026-03-03T00:00:00Z') }),
        ev('group', { groupId: 'acme', anonymousId: 'g-anon', timestamp: at('2026-03-04T00:00:00Z') }),
      ],
    );
    const g = await group('acme', '?limit=2');
    expect(g.status).toBe(200);
    expect(g.body).toMatchObject({ groupId: 'acme', traits: { plan: 'team', seats: 5 }, memberCount: 3 });
    const members = (b: { members: Array<{ id: string; since: string }> }) => b.members.map((m) => [m.id, sec(m.since)]);
    expect(members(g.body)).toEqual([
      ['g-anon', '2026-03-04T00:00:00'],
      ['g-user-1', '2026-03-02T00:00:00'],
    ]);
    const rest = await group('acme', `?limit=2&cursor=${g.body.nextCursor}`);
    expect(members(rest.body)).toEqual([['g-user-2', '2026-03-01T00:00:00']]);
    expect(rest.body.nextCursor).toBeNull();
    expectError(await group('no-such-group'), 404, 'SOL_ERR_NOT_FOUND');
  });
});
