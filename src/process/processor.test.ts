// The embedded processor against a real DuckDB store and real segment files. Queued segments are
// stored together in one transaction; when the bulk path
// throws on a line (a user-agent lookup that fails on one user agent, standing for a parser bug),
// the segment is stored event by event, where that line alone goes to the dead letters.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, expect, it } from 'vitest';
import { DuckDbStore } from '../store/duckdb/duckdb.store.js';
import { Processor } from './processor.js';
import { BatchLoader } from './batch-loader.js';

let dir = '';
let store: DuckDbStore | null = null;
afterEach(async () => {
  await store?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

it('stores a segment event by event when the bulk path throws, the failing event a dead letter', async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'solute-processor-'));
  store = await DuckDbStore.open(path.join(dir, 'store.duckdb'), { memoryLimit: '256MB', threads: 1 });
  const ua = (m: string) => (m === 'm2' ? 'Evil/1.0' : 'Mozilla/5.0');
  const lines = ['m1', 'm2', 'm3'].map((m, k) =>
    JSON.stringify({ v: 2, c: 1, p: 'p', s: k + 1, t: 1_700_000_000_000 + k, y: 'track', n: 'E', u: 'u', a: null, m, i: '10.0.0.1', g: ua(m), e: { type: 'track', event: 'E', messageId: m, context: { userAgent: ua(m) } } }),
  );
  const file = path.join(dir, '1.ndjson');
  fs.writeFileSync(file, lines.join('\n') + '\n');
  const broken = (s: string) => {
    if (s === 'Evil/1.0') throw new Error('parser bug on this user agent');
  };
  const processor = new Processor({
    store,
    persistKeys: async () => undefined,
    logger: pino({ level: 'silent' }),
    fileLoader: store,
    bulkEnrich: { userAgent: (s) => (broken(s), { browser: null, os: null, device: null }) },
    steps: [{ name: 'enrich', run: (l) => broken(String((l.e.context as { userAgent?: string }).userAgent)) }],
  });
  processor.enqueue({ id: 1, file, count: 3, keys: new Uint32Array(0), days: new Uint16Array(0), projects: [], eventsByProject: new Map([['p', 3]]) });
  await processor.drained();
  expect((await store.queryEvents('p', { limit: 10 })).events.map((e) => e.messageId).sort()).toEqual(['m1', 'm3']);
  expect((await store.deadLetters({ limit: 10 })).map((d) => [d.index, d.step, d.reason])).toEqual([[1, 'enrich', 'parser bug on this user agent']]);
  expect(processor.running).toBe(true);
  expect(fs.existsSync(file)).toBe(false);
});

it('stores queued segments together, and one at a time when one of them does not read in bulk', async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'solute-processor-'));
  store = await DuckDbStore.open(path.join(dir, 'store.duckdb'), { memoryLimit: '256MB', threads: 1 });
  let s = 0;
  const line = (m: string, y = 'track') =>
    JSON.stringify({ v: 2, c: y === 'track' ? 1 : 0, p: 'p', s: ++s, t: 1_700_000_000_000 + s, r: 1_700_000_000_000, y, n: 'E', u: 'u', a: null, m, i: '10.0.0.1', g: 'curl/8.5.0', e: { type: y, event: 'E', userId: 'u', messageId: m, context: { userAgent: 'curl/8.5.0' } } });
  const segments = [
    [line('a1'), line('a2', 'identify')],
    [line('b1'), '{"v":2,"c":1,"p":"p","s":99,"t":1,"e":{"type":"tr'],
    [line('c1'), line('c2')],
  ].map((lines, k) => {
    const file = path.join(dir, `${k + 1}.ndjson`);
    fs.writeFileSync(file, lines.join('\n') + '\n');
    return { id: k + 1, file, count: lines.length, keys: new Uint32Array(0), days: new Uint16Array(0), projects: [], eventsByProject: new Map([['p', lines.length]]) };
  });
  const loaded: number[][] = [];
  const processor = new Processor({
    store,
    persistKeys: async () => undefined,
    logger: pino({ level: 'silent' }),
    fileLoader: store,
    bulkEnrich: { userAgent: () => ({ browser: { name: 'curl' }, os: null, device: null }) },
    steps: [],
    onLoaded: (group) => loaded.push(group.map((g) => g.id)),
  });
  for (const seg of segments) processor.enqueue(seg);
  await processor.drained();
  // The first segment starts a load at once; the two queued meanwhile go together (one by one inside, as 2 does not read in bulk).
  expect(loaded.flat()).toEqual([1, 2, 3]);
  expect(loaded.some((group) => group.length > 1)).toBe(true);
  const stored = (await store.queryEvents('p', { limit: 10 })).events;
  expect(stored.map((e) => e.messageId).sort()).toEqual(['a1', 'a2', 'b1', 'c1', 'c2']);
  expect(stored.find((e) => e.messageId === 'c1')!.context).toEqual({ userAgent: 'curl/8.5.0', ip: '10.0.0.1', browser: { name: 'curl' } });
  expect((await store.deadLetters({ limit: 10 })).map((d) => [d.segment, d.index, d.step])).toEqual([[2, 1, 'parse']]);
  expect(await store.lastSegmentId()).toBe(3);
  for (const seg of segments) expect(fs.existsSync(seg.file)).toBe(false);
});

it('loads several segments in one transaction, each recorded once with what it stored', async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'solute-processor-'));
  store = await DuckDbStore.open(path.join(dir, 'store.duckdb'), { memoryLimit: '256MB', threads: 1 });
  let s = 0;
  const line = (m: string, y = 'track') =>
    JSON.stringify({ v: 2, c: y === 'track' ? 1 : 0, p: 'p', s: ++s, t: 1_700_000_000_000 + s, r: 1_700_000_000_000, y, n: 'E', u: 'u', a: null, m, i: null, g: null, e: { type: y, event: 'E', userId: 'u', messageId: m, context: {} } });
  const files = [[line('a1'), line('a2', 'identify'), line('a3')], [line('b1', 'identify'), line('b2')]].map((lines, k) => {
    const file = path.join(dir, `${k + 1}.ndjson`);
    fs.writeFileSync(file, lines.join('\n') + '\n');
    return { id: k + 1, file };
  });
  const loader = new BatchLoader({ store, logger: pino({ level: 'silent' }) });
  const lookups = { userAgent: () => ({ browser: null, os: null, device: null }) };
  expect(await loader.loadFiles(store, files, lookups)).toEqual({ stored: 5, deadLettered: 0 });
  expect(await loader.loadFiles(store, files, lookups)).toEqual({ stored: 0, deadLettered: 0 }); // committed: skipped
  const rows = (await store.queryConnection().runAndReadAll('SELECT id::DOUBLE, events::DOUBLE FROM segments ORDER BY id')).getRowsJS();
  expect(rows).toEqual([[1, 3], [2, 2]]);
  expect(await store.countEvents()).toBe(5);
});
