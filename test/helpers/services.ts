// External services the tests of the distributed backends need, and one rule for all of them: when a
// service is unreachable, a suite is skipped (said once per process) unless SOLUTE_CI is set, where
// it fails, since CI must run every backend.
import crypto from 'node:crypto';
import pg from 'pg';

export const PG_URL = process.env.SOLUTE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

let pgProbe: Promise<string | null> | null = null;

/**
 * The PostgreSQL URL when the server answers, else null (the caller skips its suite); throws under
 * SOLUTE_CI. Use at the top of a test file: `const pgUrl = await requirePostgres();`.
 */
export function requirePostgres(): Promise<string | null> {
  pgProbe ??= (async () => {
    const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return PG_URL;
    } catch (err) {
      const why = `PostgreSQL unreachable at ${PG_URL} (${(err as Error).message}); set SOLUTE_TEST_PG_URL to point elsewhere`;
      if (process.env.SOLUTE_CI) throw new Error(`PostgreSQL required in CI: ${why}`);
      console.warn(`skipping the PostgreSQL suites: ${why}`);
      return null;
    } finally {
      await client.end().catch(() => undefined);
    }
  })();
  return pgProbe;
}

/** A fresh schema name for one test's tables (lower case: PostgreSQL folds unquoted names), tagged for whoever reads the database. */
export function testSchema(tag = 'test'): string {
  return `solute_${tag.replace(/[^a-z0-9]/g, '_')}_${crypto.randomBytes(6).toString('hex')}`;
}

export async function dropSchema(url: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}
