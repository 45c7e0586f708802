// The embedded processor's fast path: DuckDB reads a closed segment file itself (read_ndjson, native
// code, off the event loop) and stores the lines the bulk enrichment rule covers as they are, with
// their enrichment in columns beside them (`ip` from the line's `i`, `ua` from its `g`; see
// contracts/log-line.ts and duckdb.enriched.ts). JavaScript touches only what needs it: one parse per
// new distinct user agent, and the per-event path for the other lines (identify/alias/group for the
// stateful steps, contexts of another shape, lines of log format v1), found by their first bytes.
import type { DuckDBConnection } from '@duckdb/node-api';
import type { BulkEnrich } from '../../contracts/event-store.js';

/** The version 2 line's fields, as read_ndjson reads them. */
const FILE_COLUMNS = `{v:'INTEGER', c:'INTEGER', p:'VARCHAR', s:'BIGINT', t:'BIGINT', y:'VARCHAR', n:'VARCHAR', u:'VARCHAR', a:'VARCHAR', m:'VARCHAR', i:'VARCHAR', g:'VARCHAR', e:'JSON'}`;

/** Inserts the lines of `file` that the bulk rule covers (v = 2, c = 1); returns how many. Throws on a line that does not read. */
export async function insertBulkLines(db: DuckDBConnection, file: string, hashes: string): Promise<number> {
  const r = await db.run(
    `INSERT INTO events SELECT p, s, t, y, n, u, a, m, e, ${hashes}, i, g
     FROM read_ndjson('${file.replace(/'/g, "''")}', columns=${FILE_COLUMNS}, format='newline_delimited')
     WHERE v = 2 AND c = 1`,
  );
  return Number(r.rowsChanged);
}

/** Parses each user agent of the events from `fromSeq` on that `user_agents` lacks, and adds it. */
export async function addUserAgents(db: DuckDBConnection, fromSeq: number, enrich: Pick<BulkEnrich, 'userAgent'>): Promise<void> {
  const uas = (
    await db.runAndReadAll('SELECT DISTINCT ua FROM events e WHERE seq >= $1 AND ua IS NOT NULL AND NOT EXISTS (SELECT 1 FROM user_agents x WHERE x.ua = e.ua)', [fromSeq])
  )
    .getRowsJS()
    .map((r) => String(r[0]));
  if (uas.length === 0) return;
  const insert = await db.prepare('INSERT INTO user_agents VALUES ($1, $2::JSON, $3::JSON, $4::JSON)');
  const json = (v: object | null) => (v === null ? null : JSON.stringify(v));
  for (const ua of uas) {
    const r = enrich.userAgent(ua);
    insert.bind([ua, json(r.browser), json(r.os), json(r.device)]);
    await insert.run();
  }
}
