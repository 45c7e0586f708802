// Reading a stored event back whole. An event the bulk enrichment rule covered (log format v2, `c` = 1)
// is stored as the edge wrote it, with what enrichment adds kept beside it: `events.ip` and `events.ua`,
// the latter parsed once per distinct user agent into `user_agents`. Every read that returns bodies
// selects ENRICHMENT_COLUMNS (the events row aliased `e`, joined with ENRICHMENT_JOIN) and rebuilds the
// event with storedEvent: the keys the enrich step would have appended to context, in its order (ip,
// browser, os, device), so the event read back is the one the per-event path stores, keys in the same
// order (test/integration/enrichment-paths.property.test.ts). Done in JavaScript on the rows read, not
// with DuckDB's json_merge_patch, which moves a patched key to the end of its object.

export const ENRICHMENT_COLUMNS = 'e.body::VARCHAR AS body, e.ip AS ip, g.browser::VARCHAR AS browser, g.os::VARCHAR AS os, g.device::VARCHAR AS device';

export const ENRICHMENT_JOIN = 'LEFT JOIN user_agents g ON g.ua = e.ua';

export interface EnrichedRow {
  body: string;
  ip: string | null;
  browser: string | null;
  os: string | null;
  device: string | null;
}

/** The stored event: the body, with the enrichment kept beside it appended to its context. */
export function storedEvent(row: EnrichedRow): Record<string, unknown> {
  const event = JSON.parse(row.body) as Record<string, unknown>;
  if (row.ip === null && row.browser === null && row.os === null && row.device === null) return event;
  // A bulk-stored event has a plain-object context without these keys (contracts/log-line.ts bulkShape).
  const context = event.context as Record<string, unknown>;
  if (row.ip !== null) context.ip = row.ip;
  if (row.browser !== null) context.browser = JSON.parse(row.browser);
  if (row.os !== null) context.os = JSON.parse(row.os);
  if (row.device !== null) context.device = JSON.parse(row.device);
  return event;
}
