// The processor: what cannot be stored goes to the dead-letter table with its reason; nothing is dropped.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DuckDbStore } from '../../src/store/duckdb/duckdb.store.js';
import { dataPaths } from '../../src/main.js';
import { getEvents, makeEvent, postEvents, readAllEvents, startTestServer, tempDir, waitForDrain } from '../helpers/solute.js';

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

describe('processing', () => {
  it('stores an event whose strings hold lone surrogates, with U+FFFD in their place', async () => {
    const s = await startTestServer();
    try {
      const odd = makeEvent({ properties: { title: 'cut emoji \ud83d', ok: 'fine' } });
      const plain = makeEvent();
      const r = await postEvents(s.url, s.writeKey, { batch: [odd, plain], sentAt: new Date().toISOString() });
      expect(r.body).toMatchObject({ processed: 2, failed: 0 });
      await waitForDrain(s.url);
      const q = await getEvents(s.url, s.secretKey, { messageId: odd.messageId as string });
      expect(q.body.events).toHaveLength(1);
      expect(q.body.events[0].properties).toEqual({ title: 'cut emoji \ufffd', ok: 'fine' });
      expect((await getEvents(s.url, s.secretKey, { messageId: plain.messageId as string })).body.events).toHaveLength(1);
      expect(await metric(s.url, 'solute_dead_letters_total')).toBe(0);
    } finally {
      await s.close();
    }
  });

  it('sends a damaged log line to the dead-letter table with its reason and stores the rest', async () => {
    const dataDir = tempDir();
    const logDir = dataPaths(dataDir).log;
    fs.mkdirSync(logDir, { recursive: true });
    const now = new Date().toISOString();
    const good = (n: number) => {
      const e: Record<string, unknown> = { ...makeEvent({ messageId: `good-${n}` }), receivedAt: now, sentAt: now };
      return JSON.stringify({ p: 'test', s: n, t: Date.now(), y: e.type, n: e.event, u: e.userId, a: e.anonymousId, m: e.messageId, e });
    };
    fs.writeFileSync(path.join(logDir, '000000000001.ndjson'), `${good(1)}\n{"p":"test","s":2,"t":1,"e":{"type":"tr\n${good(3)}\n{"p":"test","s":4,"t":1,"e":{}}\n`);

    const s = await startTestServer({}, dataDir);
    await waitForDrain(s.url);
    const stored = await readAllEvents(s.url, s.secretKey);
    expect(stored.map((e) => e.messageId).sort()).toEqual(['good-1', 'good-3']);
    expect(await metric(s.url, 'solute_dead_letters_total')).toBe(2);
    // The recovered keys count: a resend of good-1 is a duplicate.
    const again = await postEvents(s.url, s.writeKey, { batch: [makeEvent({ messageId: 'good-1' })], sentAt: now });
    expect(again.body).toMatchObject({ processed: 1, duplicates: 1 });
    await s.close();

    const store = await DuckDbStore.open(dataPaths(dataDir).store, { memoryLimit: '256MB', threads: 1 });
    try {
      const dead = await store.deadLetters({ limit: 100 });
      expect(dead).toHaveLength(2);
      const byLine = new Map(dead.map((d) => [d.index, d]));
      expect(byLine.get(1)).toMatchObject({ segment: 1, step: 'parse', raw: '{"p":"test","s":2,"t":1,"e":{"type":"tr' });
      expect(String(byLine.get(1)!.reason)).toMatch(/JSON/i);
      expect(byLine.get(3)).toMatchObject({ segment: 1, step: 'parse', raw: '{"p":"test","s":4,"t":1,"e":{}}' });
      expect(String(byLine.get(3)!.reason)).toMatch(/malformed log line/);
      expect(fs.readdirSync(logDir).filter((f) => f.endsWith('.ndjson'))).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
