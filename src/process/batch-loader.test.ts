// The batch loader against a real DuckDB store: a batch that fails the same way again and again is
// searched for its poisoned lines (trial commits that are rolled back), which become dead letters
// while the rest is stored, once; a failure that is not a line's keeps the batch retrying.
//
// The poison stands for a bug in a per-event step: it leaves a value no store can serialize (a
// BigInt) in the event, so the whole transaction fails, not just one step on one line.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { DuckDbStore } from '../store/duckdb/duckdb.store.js';
import { inStep, stepOf } from '../lib/step-error.js';
import { BatchLoader } from './batch-loader.js';
import type { EventStep } from './pipeline.js';

const poison: EventStep = {
  name: 'enrich',
  run(line) {
    const props = line.e.properties as Record<string, unknown> | undefined;
    if (props?.poison === true) props.big = 10n;
  },
};

let dirs: string[] = [];
let stores: DuckDbStore[] = [];
afterEach(async () => {
  for (const s of stores) await s.close();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  stores = [];
  dirs = [];
});

async function open(file?: string) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'solute-loader-'));
  dirs.push(dir);
  const store = await DuckDbStore.open(file ?? path.join(dir, 'store.duckdb'), { memoryLimit: '256MB', threads: 1 });
  stores.push(store);
  return { store, file: file ?? path.join(dir, 'store.duckdb') };
}

let seq = 0;
/** An NDJSON log line as ingest writes it; poisoned ones carry the marker the step above acts on. */
function logLine(m: string, f: { poison?: boolean; y?: string; u?: string; traits?: Record<string, unknown> } = {}): string {
  const y = f.y ?? 'track';
  const e: Record<string, unknown> = { type: y, messageId: m, userId: f.u ?? 'u', properties: { poison: f.poison === true } };
  if (y === 'track') e.event = 'Clicked';
  if (f.traits) e.traits = f.traits;
  return JSON.stringify({ p: 'p', s: ++seq, t: 1_700_000_000_000 + seq, y, n: y === 'track' ? 'Clicked' : null, u: f.u ?? 'u', a: null, m, i: null, e });
}

const text = (lines: string[]) => lines.join('\n') + '\n';
const messageIds = async (store: DuckDbStore) => (await store.queryEvents('p', { limit: 1000 })).events.map((e) => e.messageId).sort();

describe('BatchLoader: poisoned lines', () => {
  it('after 3 failures in a row, stores the rest of the batch and sends the poisoned lines to the dead letters, once', async () => {
    const { store } = await open();
    const loader = new BatchLoader({ store, logger: pino({ level: 'silent' }), steps: [poison] });
    const lines = Array.from({ length: 11 }, (_, i) => logLine(`m${i}`, { poison: i === 3 || i === 8, y: i === 5 ? 'identify' : 'track', traits: i === 5 ? { plan: 'pro' } : undefined }));
    await expect(loader.load(7, text(lines))).rejects.toThrow(/BigInt/);
    await expect(loader.load(7, text(lines))).rejects.toThrow(/BigInt/);
    expect(await store.lastSegmentId()).toBe(0);
    expect(await loader.load(7, text(lines))).toEqual({ stored: 9, deadLettered: 2 });
    expect(await messageIds(store)).toEqual(['m0', 'm1', 'm10', 'm2', 'm4', 'm5', 'm6', 'm7', 'm9']);
    const dead = await store.deadLetters({ limit: 10 });
    expect(dead.map((d) => [d.segment, d.index, d.step])).toEqual([
      [7, 3, 'store'],
      [7, 8, 'store'],
    ]);
    expect(dead[0].reason).toMatch(/BigInt/);
    expect(JSON.parse(dead[0].raw).m).toBe('m3');
    expect(await store.profile('p', 'u', 0)).toMatchObject({ traits: { plan: 'pro' } });
    // Committed once, keyed by the batch: loading it again (a crash before the log knew) is a no-op.
    expect(await store.lastSegmentId()).toBe(7);
    expect(await loader.load(7, text(lines))).toEqual({ stored: 0, deadLettered: 0 });
    // The next batch goes through at once.
    expect(await loader.load(8, text([logLine('n1')]))).toEqual({ stored: 1, deadLettered: 0 });
  });

  it('isolates a batch of one poisoned line when the batch without it commits', async () => {
    const { store } = await open();
    const loader = new BatchLoader({ store, logger: pino({ level: 'silent' }), steps: [poison], isolateAfter: 2 });
    const one = text([logLine('only', { poison: true })]);
    await expect(loader.load(1, one)).rejects.toThrow(/BigInt/);
    expect(await loader.load(1, one)).toEqual({ stored: 0, deadLettered: 1 });
    expect((await store.deadLetters({ limit: 10 })).map((d) => d.index)).toEqual([0]);
  });

  it('keeps retrying when every line of the batch fails alone: the cause is not a line', async () => {
    const { store } = await open();
    const loader = new BatchLoader({ store, logger: pino({ level: 'silent' }), steps: [poison], isolateAfter: 1 });
    const all = text(['a', 'b', 'c'].map((m) => logLine(m, { poison: true })));
    for (let i = 0; i < 3; i++) await expect(loader.load(3, all)).rejects.toThrow(/BigInt/);
    expect(await store.lastSegmentId()).toBe(0);
    expect(await store.deadLetters({ limit: 10 })).toEqual([]);
  });

  it('keeps retrying, and dead-letters nothing, when the store itself fails', async () => {
    const { store, file } = await open();
    const loader = new BatchLoader({ store, logger: pino({ level: 'silent' }), isolateAfter: 1 });
    await store.close(); // stands for a store gone away: every commit, even of no line, fails
    const batch = text([logLine('x1'), logLine('x2')]);
    for (let i = 0; i < 3; i++) await expect(loader.load(4, batch)).rejects.toThrow();
    stores = stores.filter((s) => s !== store);
    const again = await DuckDbStore.open(file, { memoryLimit: '256MB', threads: 1 });
    stores.push(again);
    expect(await again.lastSegmentId()).toBe(0);
    expect(await again.deadLetters({ limit: 10 })).toEqual([]);
    // Back: the same batch is stored whole.
    expect(await new BatchLoader({ store: again, logger: pino({ level: 'silent' }) }).load(4, batch)).toEqual({ stored: 2, deadLettered: 0 });
  });

  it('counts failures per batch: another batch failing in between does not add to them', async () => {
    const { store } = await open();
    const loader = new BatchLoader({ store, logger: pino({ level: 'silent' }), steps: [poison] });
    const a = text([logLine('a1'), logLine('a2', { poison: true })]);
    const b = text([logLine('b1', { poison: true }), logLine('b2')]);
    await expect(loader.load(1, a)).rejects.toThrow();
    await expect(loader.load(2, b)).rejects.toThrow();
    await expect(loader.load(1, a)).rejects.toThrow();
    await expect(loader.load(2, b)).rejects.toThrow();
    expect(await loader.load(1, a)).toEqual({ stored: 1, deadLettered: 1 });
    expect(await loader.load(2, b)).toEqual({ stored: 1, deadLettered: 1 });
  });
});

describe('step marks on errors', () => {
  it('names the stateful step an error came from, keeps the error itself, and defaults to store', async () => {
    const original = Object.assign(new Error('boom'), { code: '40P01' });
    const thrown = await inStep('identity', async () => {
      throw original;
    }).catch((e: unknown) => e);
    expect(thrown).toBe(original);
    expect((thrown as { code: string }).code).toBe('40P01');
    expect(stepOf(thrown)).toBe('identity');
    // The first mark wins (an inner step inside an outer one).
    await inStep('groups', () => Promise.reject(original)).catch(() => undefined);
    expect(stepOf(original)).toBe('identity');
    expect(stepOf(new Error('x'))).toBe('store');
    expect(stepOf('a string')).toBe('store');
  });
});
