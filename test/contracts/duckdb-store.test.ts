// The store and stats contracts against the embedded DuckDB store.
import fs from 'node:fs';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { DuckDbStore } from '../../src/store/duckdb/duckdb.store.js';
import { tempDir } from '../helpers/solute.js';
import { duckDbStats } from '../../src/store/duckdb/stats.queries.js';
import { describe, expect, it } from 'vitest';
import { migrate } from '../../src/store/duckdb/duckdb.schema.js';
import { createBatchSteps } from '../../src/process/pipeline.js';
import { eventStoreContract } from './event-store.contract.js';
import { statsStoreContract } from './stats-store.contract.js';

eventStoreContract('DuckDB', async () => {
  const dir = tempDir('solute-contract-');
  const file = path.join(dir, 'store.duckdb');
  const store = await DuckDbStore.open(file, { memoryLimit: '256MB', threads: 1 });
  let closed = false;
  return {
    store,
    dedupesAcrossBatches: false,
    async close() {
      if (!closed) await store.close();
      closed = true;
      fs.rmSync(dir, { recursive: true, force: true });
    },
    async warnings(project) {
      // The store holds the only connection a DuckDB file allows a process: read it once closed.
      await store.close();
      closed = true;
      const instance = await DuckDBInstance.create(file);
      const c = await instance.connect();
      const r = await c.runAndReadAll('SELECT message_id, kind FROM identity_warnings WHERE project = $1 ORDER BY created_at', [project]);
      const rows = (r.getRowsJS() as Array<[string, string]>).map(([messageId, kind]) => ({ messageId, kind }));
      c.closeSync();
      instance.closeSync();
      return rows;
    },
  };
});

describe('DuckDB store migration to v3 (bounded state)', () => {
  it('counts the ids already linked to each profile, so the linked-ids bound holds for profiles made before it', async () => {
    const dir = tempDir('solute-contract-');
    const file = path.join(dir, 'store.duckdb');
    try {
      const instance = await DuckDBInstance.create(file);
      const c = await instance.connect();
      await migrate(c, 2);
      await c.run(`INSERT INTO identities VALUES ('p', 'old', 'old'), ('p', 'old-a1', 'old'), ('p', 'old-a2', 'old'), ('p', 'solo', 'solo')`);
      await c.run(`INSERT INTO profiles VALUES ('p', 'old', 'old', '{"plan":"pro"}', '{"plan":1}'), ('p', 'solo', NULL, '{}', '{}')`);
      await c.run(`INSERT INTO identities VALUES ('p', 'quiet', 'quiet')`);
      await c.run(`INSERT INTO profiles VALUES ('p', 'quiet', 'quiet', '{"x":1}', '{"x":1}')`);
      await c.run(`INSERT INTO groups VALUES ('p', 'g', '{"y":2}', '{"y":2}')`);
      c.closeSync();
      instance.closeSync();
      const store = await DuckDbStore.open(file, { memoryLimit: '256MB', threads: 1 });
      try {
        const steps = createBatchSteps({ maxTraits: 10, maxTraitsBytes: 1000, maxLinkedIds: 3, maxLinkedIdsBytes: 1000 });
        const line = (m: string, u: string, a: string) => ({ p: 'p', s: 1, t: 5, y: 'identify', n: null, u, a, m, e: {} });
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
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

statsStoreContract('DuckDB', async () => {
  const dir = tempDir('solute-contract-');
  const store = await DuckDbStore.open(path.join(dir, 'store.duckdb'), { memoryLimit: '256MB', threads: 1 });
  return {
    store,
    stats: await duckDbStats(store.queryConnection()),
    async close() {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});
