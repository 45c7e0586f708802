// The embedded processor against a real DuckDB store and a real segment file: when the bulk path
// throws on a line (a user-agent lookup that fails on one user agent, standing for a parser bug),
// the segment is stored event by event, where that line alone goes to the dead letters.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, expect, it } from 'vitest';
import { DuckDbStore } from '../store/duckdb/duckdb.store.js';
import { Processor } from './processor.js';

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
