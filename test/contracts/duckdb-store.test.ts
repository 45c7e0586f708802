// The store and stats contracts against the embedded DuckDB store.
import fs from 'node:fs';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { DuckDbStore } from '../../src/store/duckdb/duckdb.store.js';
import { tempDir } from '../helpers/solute.js';
import { duckDbStats } from '../../src/store/duckdb/stats.queries.js';
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
