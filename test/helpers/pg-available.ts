// PostgreSQL for tests: postgres://postgres@127.0.0.1:5432/test, or SOLUTE_TEST_PG_URL. Each test file
// works in its own schema, dropped afterwards. When PostgreSQL cannot be reached the tests are
// skipped with a message, except under SOLUTE_CI, where that is a failure: CI must run them.
import crypto from 'node:crypto';
import pg from 'pg';

export const PG_TEST_URL = process.env.SOLUTE_TEST_PG_URL || 'postgres://postgres@127.0.0.1:5432/test';

/**
 * The URL when PostgreSQL answers; null (after saying so on stderr) when it does not, outside CI.
 * Under SOLUTE_CI it throws, which fails the test file. Use with top-level await:
 * `const pgUrl = await pgAvailable('pg-meta'); describe.skipIf(!pgUrl)(...)`.
 */
export async function pgAvailable(what: string): Promise<string | null> {
  const client = new pg.Client({ connectionString: PG_TEST_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return PG_TEST_URL;
  } catch (err) {
    const message = `PostgreSQL is not reachable at ${PG_TEST_URL.replace(/:[^:@/]*@/, ':***@')} (${(err as Error).message}); set SOLUTE_TEST_PG_URL`;
    if (process.env.SOLUTE_CI) throw new Error(`${what}: ${message}. SOLUTE_CI is set, so the PostgreSQL tests must run: start PostgreSQL.`);
    process.stderr.write(`${what}: SKIPPED: ${message}\n`);
    return null;
  } finally {
    await client.end().catch(() => {});
  }
}

/** A fresh schema name for one test file (PostgreSQL folds unquoted names to lower case: keep it lower). */
export function testSchemaName(tag: string): string {
  return `t_${tag.replace(/[^a-z0-9]/g, '_')}_${crypto.randomBytes(4).toString('hex')}`;
}

/** Drops a test schema and everything in it. */
export async function dropSchema(url: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}
