// The store contract against the PostgreSQL store, each test in its own schema; then what only a
// shared database adds: several processes committing at once.
import { describe, expect, it } from 'vitest';
import type { LogLine } from '../../src/contracts/log-line.js';
import { BATCH_STEPS, createBatchSteps } from '../../src/process/pipeline.js';
import { migrate } from '../../src/store/postgres/pg.schema.js';
import pg from 'pg';
import { PgStore } from '../../src/store/postgres/pg.store.js';
import { dropSchema, requirePostgres, testSchema } from '../helpers/services.js';
import { eventStoreContract } from './event-store.contract.js';
import { statsStoreContract } from './stats-store.contract.js';

const url = await requirePostgres();

async function openStore(schema = testSchema()) {
  const store = await PgStore.open(url!, { schema });
  return { store, schema };
}

async function query<T extends pg.QueryResultRow>(schema: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: url!, options: `-c search_path=${schema}` });
  await c.connect();
  try {
    return (await c.query<T>(sql, params)).rows;
  } finally {
    await c.end();
  }
}

describe.skipIf(url === null)('PostgreSQL store', () => {
  eventStoreContract('PostgreSQL', async () => {
    const { store, schema } = await openStore();
    return {
      store,
      dedupesAcrossBatches: true,
      async close() {
        await store.close();
        await dropSchema(url!, schema);
      },
      warnings: (project) => query<{ messageId: string; kind: string }>(schema, 'SELECT message_id AS "messageId", kind FROM identity_warnings WHERE project = $1 ORDER BY id', [project]),
    };
  });

  statsStoreContract('PostgreSQL', async () => {
    const { store, schema } = await openStore();
    return {
      store,
      stats: store.stats(),
      async close() {
        await store.close();
        await dropSchema(url!, schema);
      },
    };
  });

  it('commits several batches in one transaction: each once, a batch committed before skipped, its own counts kept', async () => {
    const { store, schema } = await openStore();
    try {
      const source = 'nats:group-test:1';
      const track = (m: string, u: string): LogLine => ({ p: 'p', s: 1, t: 5, y: 'track', n: 'Clicked', u, a: null, m, e: { type: 'track', messageId: m, userId: u } });
      const identify = (m: string, u: string, a: string): LogLine => ({ p: 'p', s: 1, t: 6, y: 'identify', n: null, u, a, m, e: { type: 'identify', messageId: m } });
      const batch = (segment: number, lines: LogLine[]) => ({ segment, source, lines: lines.map((line, index) => ({ index, raw: JSON.stringify(line), line })), deadLetters: [] });
      expect(await store.commitBatch(batch(1, [track('a', 'u1')]), BATCH_STEPS)).toMatchObject({ stored: 1 });
      const r = await store.commitBatches(
        [
          batch(1, [track('a', 'u1')]), // committed before: skipped
          batch(2, [track('b', 'u1'), track('c', 'u2'), identify('i', 'u2', 'anon-2')]),
          batch(3, [track('c', 'u2'), track('d', 'u3')]), // 'c' is stored once, by batch 2
        ],
        BATCH_STEPS,
      );
      expect(r).toMatchObject({ stored: 4, deadLettered: 0 });
      expect(await store.countEvents()).toBe(5);
      const rows = await query<{ id: number; events: number }>(schema, 'SELECT id::int AS id, events::int AS events FROM segments WHERE source = $1 ORDER BY id', [source]);
      expect(rows).toEqual([{ id: 1, events: 1 }, { id: 2, events: 3 }, { id: 3, events: 1 }]);
      expect(await store.profile('p', 'anon-2', 0)).toMatchObject({ ids: ['anon-2', 'u2'] });
      // The same group again: every batch is done, nothing is stored twice.
      expect(await store.commitBatches([batch(2, [track('b', 'u1')]), batch(3, [track('d', 'u3')])], BATCH_STEPS)).toMatchObject({ stored: 0 });
      expect(await store.countEvents()).toBe(5);
      // A fresh store copies straight into events first: a message id stored before sends the group
      // to the staged path, and each batch still counts only what it stored.
      const other = await openStore(schema);
      try {
        const again = await other.store.commitBatches([batch(4, [track('e', 'u1'), track('a', 'u1')]), batch(5, [track('f', 'u4')])], BATCH_STEPS);
        expect(again).toMatchObject({ stored: 2, deadLettered: 0 });
        expect(await other.store.commitBatches([batch(6, [track('g', 'u1'), track('h', 'u2')])], BATCH_STEPS)).toMatchObject({ stored: 2 });
      } finally {
        await other.store.close();
      }
      const after = await query<{ id: number; events: number }>(schema, 'SELECT id::int AS id, events::int AS events FROM segments WHERE source = $1 AND id >= 4 ORDER BY id', [source]);
      expect(after).toEqual([{ id: 4, events: 1 }, { id: 5, events: 1 }, { id: 6, events: 2 }]);
      expect(await store.countEvents()).toBe(9);
    } finally {
      await store.close();
      await dropSchema(url!, schema);
    }
  });

  it('migration to v2 (bounded state) counts the ids already linked to each profile', async () => {
    const schema = testSchema();
    const pool = new pg.Pool({ connectionString: url!, max: 1, options: `-c search_path=${schema}` });
    try {
      await migrate(pool, schema, 1);
      await pool.query(`INSERT INTO identities VALUES ('p', 'old', 'old'), ('p', 'old-a1', 'old'), ('p', 'old-a2', 'old'), ('p', 'solo', 'solo')`);
      await pool.query(`INSERT INTO profiles VALUES ('p', 'old', 'old', '{"plan":"pro"}', '{"plan":1}'), ('p', 'solo', NULL, '{}', '{}')`);
      await pool.query(`INSERT INTO identities VALUES ('p', 'quiet', 'quiet')`);
      await pool.query(`INSERT INTO profiles VALUES ('p', 'quiet', 'quiet', '{"x":1}', '{"x":1}')`);
      await pool.query(`INSERT INTO groups VALUES ('p', 'g', '{"y":2}', '{"y":2}')`);
    } finally {
      await pool.end();
    }
    const { store } = await openStore(schema);
    try {
      const steps = createBatchSteps({ maxTraits: 10, maxTraitsBytes: 1000, maxLinkedIds: 3, maxLinkedIdsBytes: 1000 });
      const line = (m: string, u: string, a: string): LogLine => ({ p: 'p', s: 1, t: 5, y: 'identify', n: null, u, a, m, e: {} });
      const r = await store.commitBatch({ segment: 1, lines: [{ index: 0, raw: '', line: line('m1', 'old', 'new-a') }], deadLetters: [] }, steps);
      expect(r.warnings?.map((w) => w.kind)).toEqual(['linked_ids_too_many']);
      expect(await store.profile('p', 'old', 0)).toMatchObject({ ids: ['old', 'old-a1', 'old-a2'], traits: { plan: 'pro' } });
      const ok = await store.commitBatch({ segment: 2, lines: [{ index: 0, raw: '', line: line('m2', 'solo', 'solo-a') }], deadLetters: [] }, steps);
      expect(ok.warnings).toBeUndefined();
      expect(await store.profile('p', 'solo-a', 0)).toMatchObject({ ids: ['solo', 'solo-a'], warnings: {} });
      // Rows the new version has not written yet read as before, with no warnings.
      expect(await store.profile('p', 'quiet', 0)).toMatchObject({ traits: { x: 1 }, warnings: {} });
      expect(await store.group('p', 'g', { limit: 1 })).toMatchObject({ traits: { y: 2 }, warnings: {} });
    } finally {
      await store.close();
      await dropSchema(url!, schema);
    }
  });

  describe('several processes on one database', () => {
    const mk = (s: number, m: string, over: Partial<LogLine> = {}): LogLine => ({ p: 'c', s, t: 1_700_000_000_000 + s, y: 'track', n: 'E', u: null, a: `anon-${s}`, m, i: null, e: { messageId: m }, ...over });
    const batch = (segment: number, lines: LogLine[]) => ({ segment, lines: lines.map((line, index) => ({ index, raw: JSON.stringify(line), line })), deadLetters: [] });

    it('stores each message id once and each batch once, and serializes identity merges per project', async () => {
      const schema = testSchema();
      // Two stores opened at once: the migration runs once, under its lock.
      const [a, b] = await Promise.all([openStore(schema), openStore(schema)]);
      try {
        const one = [mk(1, 'id-1', { y: 'identify', n: null, u: 'user', a: 'anon-x' }), ...Array.from({ length: 600 }, (_, i) => mk(i + 10, `m-${i}`))];
        const two = [mk(2, 'id-2', { y: 'identify', n: null, u: 'user', a: 'anon-y' }), ...Array.from({ length: 600 }, (_, i) => mk(i + 10, `m-${i + 300}`))];
        const three = [mk(3, 'al-3', { y: 'alias', n: null, u: 'user', a: null, e: { previousId: 'anon-z' } })];
        const results = await Promise.all([
          a.store.commitBatch(batch(1, one), BATCH_STEPS),
          b.store.commitBatch(batch(2, two), BATCH_STEPS),
          b.store.commitBatch(batch(1, one), BATCH_STEPS),
          a.store.commitBatch(batch(3, three), BATCH_STEPS),
        ]);
        expect(results.reduce((n, r) => n + r.stored, 0)).toBe(2 + 900 + 1);
        expect(results.filter((r) => r.stored === 0)).toHaveLength(1); // batch 1 committed once
        expect(await a.store.countEvents()).toBe(903);
        expect(await b.store.profile('c', 'anon-y', 0)).toMatchObject({ userId: 'user', ids: ['anon-x', 'anon-y', 'anon-z', 'user'] });
        expect(await query(schema, 'SELECT version FROM schema_version ORDER BY version')).toEqual([{ version: 1 }, { version: 2 }, { version: 3 }]);
      } finally {
        await a.store.close();
        await b.store.close();
        await dropSchema(url!, schema);
      }
    });

    it('sends an event the database cannot index to the dead letters instead of failing the batch', async () => {
      const { store, schema } = await openStore();
      try {
        // 1024 characters (the API's limit) of 4 bytes each, varied so they do not compress, exceed a btree entry (2704 bytes).
        const huge = String.fromCodePoint(...Array.from({ length: 1024 }, (_, i) => 0x10000 + ((i * 7919) % 0xfff0)));
        const r = await store.commitBatch(batch(1, [mk(1, 'ok-1'), mk(2, 'big', { u: huge }), mk(3, 'ok-2'), mk(4, 'big-id', { y: 'identify', u: huge })]), BATCH_STEPS);
        expect(r).toEqual({ stored: 2, deadLettered: 2 });
        const dead = await store.deadLetters({ limit: 10 });
        expect(dead.map((d) => [d.index, d.step])).toEqual([[3, 'identity'], [1, 'store']]);
        expect(dead[1].reason).toMatch(/index row size/);
      } finally {
        await store.close();
        await dropSchema(url!, schema);
      }
    });
  });
});
