// Which PostgreSQL schema holds Solute's tables: SOLUTE_PG_SCHEMA when set, else the one the URL's
// connection would use (`?options=-c search_path=...`, else the server's default, usually public).
import pg from 'pg';

/**
 * The schema unqualified names would go to: current_schema(), or, when the search_path names no
 * schema that exists yet (e.g. `?options=-c search_path=solute` on a fresh database), its first entry.
 */
export async function defaultSchema(pool: pg.Pool | pg.Client): Promise<string> {
  const { rows } = await pool.query<{ s: string | null; p: string; u: string }>("SELECT current_schema() AS s, current_setting('search_path') AS p, session_user AS u");
  if (rows[0].s) return rows[0].s;
  const first = rows[0].p.split(',')[0]?.trim().replace(/^"(.*)"$/, '$1') ?? '';
  return first === '$user' ? rows[0].u : first || 'public';
}

export async function schemaFor(url: string, configured: string): Promise<string> {
  if (configured !== '') return configured;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await defaultSchema(client);
  } finally {
    await client.end();
  }
}
