// The stats queries on a seeded store: the seed adds the uhash/ahash columns, so this runs the
// integer-hash path (the HTTP tests run the string path on a store without them). Figures are
// checked against plain SQL over the strings, and the seed's shape against its options.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDbStore } from './duckdb.store.js';
import { seed, SEED_EVENT_NAMES } from './seed.js';
import { duckDbStats } from './stats.queries.js';

const DAY = 86_400_000;
const NOW = Date.parse('2025-06-01T12:34:56Z');

describe('stats queries over seeded events', () => {
  let dir: string;
  let store: DuckDbStore;
  const rows = async (sql: string) =>
    (await store.queryConnection().runAndReadAll(sql)).getRowsJS().map((r) => r.map((v) => (typeof v === 'bigint' ? Number(v) : v))) as any[][];

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'solute-stats-'));
    store = await DuckDbStore.open(path.join(dir, 'events.duckdb'), { memoryLimit: '256MB', threads: 1 });
    await seed(store.queryConnection(), { project: 'p', events: 20_000, users: 500, days: 10, now: NOW, salt: 7 });
    await seed(store.queryConnection(), { project: 'q', events: 1_000, users: 50, days: 10, now: NOW, salt: 8 });
  });
  afterAll(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('seeds the asked shape: N events over D days, skewed names, ids, identities and profiles of identified users', async () => {
    expect(await rows("SELECT count(*), min(ts) >= " + (NOW - 10 * DAY) + ", max(ts) < " + NOW + " FROM events WHERE project = 'p'")).toEqual([[20_000, true, true]]);
    expect(await rows("SELECT count(DISTINCT seq), count(DISTINCT message_id) FROM events")).toEqual([[21_000, 21_000]]);
    const types = Object.fromEntries(await rows("SELECT type, count(*) FROM events WHERE project = 'p' GROUP BY type"));
    expect(types.track).toBeGreaterThan(15_000);
    expect(types.page + types.identify).toBeGreaterThan(2_000);
    const names = await rows("SELECT event, count(*) c FROM events WHERE project = 'p' AND event IS NOT NULL GROUP BY event ORDER BY c DESC");
    expect(names.length).toBeGreaterThan(20);
    expect(SEED_EVENT_NAMES).toContain(names[0][0]);
    expect(names[0][1]).toBeGreaterThan(5 * names.at(-1)![1]);
    // Hash columns as the identity work defines them.
    expect(await rows('SELECT count(*) FROM events WHERE uhash IS DISTINCT FROM CASE WHEN user_id IS NOT NULL THEN hash(user_id) END OR ahash <> hash(anonymous_id)')).toEqual([[0]]);
    const [[users]] = await rows("SELECT count(DISTINCT user_id) FROM events WHERE project = 'p'");
    expect(await rows("SELECT count(*), count(DISTINCT profile) FROM identities WHERE project = 'p'")).toEqual([[users * 2, users]]);
    expect(await rows("SELECT count(*) FROM profiles WHERE project = 'p' AND user_id = profile AND (traits->>'email') = (profile || '@example.com')")).toEqual([[users]]);
  });

  it('daily counts and distinct users (hash path) equal plain SQL over the strings', async () => {
    const stats = await duckDbStats(store.queryConnection());
    const from = NOW - 7 * DAY - 3_600_000;
    const to = NOW - DAY;
    const got = await stats.countEvents('p', { from, to, interval: 'day', spans: [{ start: from, offsetMs: 0 }], event: SEED_EVENT_NAMES[0] });
    const want = await rows(`SELECT ts // ${DAY}, count(*), count(DISTINCT coalesce(user_id, anonymous_id)) FROM events
      WHERE project = 'p' AND ts >= ${from} AND ts < ${to} AND event = '${SEED_EVENT_NAMES[0]}' GROUP BY ALL ORDER BY 1`);
    expect(got.buckets.sort((a, b) => a.key - b.key).map((b) => [b.key, b.count, b.users])).toEqual(want);
    const [[count, users]] = await rows(`SELECT count(*), count(DISTINCT coalesce(user_id, anonymous_id)) FROM events
      WHERE project = 'p' AND ts >= ${from} AND ts < ${to} AND event = '${SEED_EVENT_NAMES[0]}'`);
    expect(got.total).toEqual({ count, users });
  });

  it('top events (hash path) equal plain SQL over the strings', async () => {
    const stats = await duckDbStats(store.queryConnection());
    const got = await stats.topEvents('p', { from: NOW - 3 * DAY, to: NOW, limit: 5 });
    const want = await rows(`SELECT event, count(*) c, count(DISTINCT coalesce(user_id, anonymous_id)) FROM events
      WHERE project = 'p' AND ts >= ${NOW - 3 * DAY} AND ts < ${NOW} AND event IS NOT NULL GROUP BY event ORDER BY c DESC, event LIMIT 5`);
    expect(got.map((e) => [e.event, e.count, e.users])).toEqual(want);
  });

  it('gives seeded profiles their linked-ids count and bytes, and no warnings, as the identity step would', async () => {
    const [[profiles, wrong, warned]] = await rows(`
      SELECT count(*), count(*) FILTER (WHERE p.id_count <> l.n OR p.id_bytes <> l.b), count(*) FILTER (WHERE p.warnings::VARCHAR <> '{}')
      FROM profiles p JOIN (SELECT project, profile, count(*) AS n, sum(strlen(id)) AS b FROM identities GROUP BY ALL) l USING (project, profile)`);
    expect(profiles).toBeGreaterThan(100);
    expect([wrong, warned]).toEqual([0, 0]);
    const [[someone]] = await rows("SELECT profile FROM profiles WHERE project = 'p' ORDER BY profile LIMIT 1");
    expect(await store.profile('p', someone, 0)).toMatchObject({ userId: someone, warnings: {} });
  });
});
