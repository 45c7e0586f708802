// A data directory written by the release before log format v2 and store schema v4 (issue 10) opens
// with this one: its unprocessed log (format v1) is processed, its stored events, profiles, groups and
// dead letters read back as that release answered them, its dedupe keys still hold, and new events are
// written in the new format. The fixture was made by that release (test/fixtures/make-datadir-v1.mjs).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, makeEvent, postEvents, readAllEvents, sleep, spawnServer, tempDir, type ChildServer } from '../helpers/solute.js';

const FIXTURE = path.join(ROOT, 'test', 'fixtures');
const expected = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'datadir-v1.json'), 'utf8')) as {
  writeKey: string;
  secretKey: string;
  storedEvents: Array<Record<string, unknown>>;
  profile: Record<string, unknown>;
  group: Record<string, unknown>;
};

describe('upgrade from a data directory of the previous release (log format v1, store schema v3)', () => {
  let dir: string;
  let dataDir: string;
  let s: ChildServer;
  const auth = { authorization: `Bearer ${expected.secretKey}` };
  const get = async (p: string) => (await fetch(`${s.url}${p}`, { headers: auth })).json() as Promise<Record<string, unknown>>;

  beforeAll(async () => {
    dir = tempDir('solute-upgrade-');
    execFileSync('tar', ['xzf', path.join(FIXTURE, 'datadir-v1.tar.gz'), '-C', dir]);
    dataDir = path.join(dir, 'data');
    expect(fs.readdirSync(path.join(dataDir, 'log')).some((f) => fs.statSync(path.join(dataDir, 'log', f)).size > 0)).toBe(true);
    s = await spawnServer(dataDir);
  }, 60_000);
  afterAll(async () => {
    if (s?.proc.exitCode === null) {
      s.proc.kill('SIGTERM');
      await s.exited;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('processes the unprocessed log and reads back what the old release stored', async () => {
    let events: Array<Record<string, unknown>> = [];
    for (const deadline = Date.now() + 30_000; events.length < 9 && Date.now() < deadline; await sleep(100)) {
      events = await readAllEvents(s.url, expected.secretKey);
    }
    const byId = new Map(events.map((e) => [e.messageId as string, e]));
    expect([...byId.keys()].sort()).toEqual(['old-1', 'old-2', 'old-3', 'old-4', 'old-5', 'old-6', 'pending-1', 'pending-2', 'pending-3']);
    // Stored by the old release: exactly as it answered them.
    for (const old of expected.storedEvents) expect(byId.get(old.messageId as string)).toEqual(old);
    // Acknowledged by the old release, processed by this one: enriched by the per-event steps.
    const p1 = byId.get('pending-1')!.context as Record<string, unknown>;
    expect(p1).toMatchObject({ ip: '127.0.0.1', browser: { name: 'Mobile Safari' }, os: { name: 'iOS' }, device: { type: 'mobile', manufacturer: 'Apple' } });
    const p3 = byId.get('pending-3')!.context as Record<string, unknown>;
    expect(p3).toMatchObject({ ip: '192.0.2.1', browser: { name: 'Chrome' }, device: { type: 'desktop' } });
  });

  it('keeps profiles, groups and dead letters readable', async () => {
    const ada = await get('/api/profiles/ada');
    const { eventCount, lastSeen, recentEvents, ...rest } = ada;
    const { eventCount: oldCount, lastSeen: _oldLast, recentEvents: _oldRecent, ...oldRest } = expected.profile;
    expect(rest).toEqual(oldRest);
    expect(eventCount).toBe((oldCount as number) + 1); // pending-1
    expect(Date.parse(lastSeen as string)).toBeGreaterThan(Date.parse(_oldLast as string));
    expect((recentEvents as Array<{ messageId: string }>)[0].messageId).toBe('pending-1');
    expect(await get('/api/groups/acme')).toEqual(expected.group);
    expect(await get('/api/profiles/bob')).toMatchObject({ traits: { plan: 'free' } });
    const dead = execFileSync(BIN, ['dead-letters', 'list', '--json'], { env: { ...process.env, SOLUTE_DATA_DIR: dataDir }, encoding: 'utf8' });
    const rows = JSON.parse(dead) as Array<{ step: string; raw: string }>;
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ step: 'parse', raw: '{"p":"fixture","s":900,"t":1,"e":{"type":"tr' });
  });

  it('still knows the old message ids, and stores new events in the new format, enriched', async () => {
    const now = new Date().toISOString();
    const again = await postEvents(s.url, expected.writeKey, { batch: [makeEvent({ messageId: 'old-1' }), makeEvent({ messageId: 'pending-3' })], sentAt: now });
    expect(again.body).toMatchObject({ processed: 2, duplicates: 2 });
    const ua = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36';
    const fresh = makeEvent({ messageId: 'new-1', context: { userAgent: ua, page: { path: '/' } } });
    expect((await postEvents(s.url, expected.writeKey, { batch: [fresh], sentAt: now })).body).toMatchObject({ processed: 1, duplicates: 0 });
    let stored: Record<string, unknown> | undefined;
    for (const deadline = Date.now() + 30_000; !stored && Date.now() < deadline; await sleep(100)) {
      stored = (await readAllEvents(s.url, expected.secretKey)).find((e) => e.messageId === 'new-1');
    }
    expect(stored!.context).toEqual({ userAgent: ua, page: { path: '/' }, ip: '127.0.0.1', browser: { name: 'Chrome', version: '124.0.0.0' }, os: { name: 'Windows', version: '10' }, device: { type: 'desktop' } });
  });
});
