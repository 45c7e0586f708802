// The store contract against the PostgreSQL store, each test in its own schema; then what only a
// shared database adds: several processes committing at once.
import { describe, expect, it } from 'vitest';
import pg from 'pg';
import { PgStore } from '../../src/store/postgres/pg.store.js';
import { dropSchema, requirePostgres, testSchema } from '../helpers/services.js';
import { eventStoreContract } from './event-store.contract.js';

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
      async close() {
        await store.close();
        await dropSchema(url!, schema);
      },
      warnings: (project) => query<{ messageId: string; kind: string }>(schema, 'SELECT message_id AS "messageId", kind FROM identity_warnings WHERE project = $1 ORDER BY id', [project]),
    };
  });
});
