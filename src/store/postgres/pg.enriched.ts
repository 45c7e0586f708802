// Reading a stored event back whole. An event the bulk enrichment rule covered is stored as the edge
// wrote it, with what enrichment adds to its context in `events.enrich` (pg.schema.ts v3); every read
// that returns bodies selects ENRICHED_COLUMNS and rebuilds the event with storedEvent: the keys the
// enrich step would have appended to context, in its order (ip, browser, os, device), so the event
// read back is the one the per-event path stores, keys in the same order
// (test/integration/enrichment-paths.property.test.ts).
import { decJson } from './pg.text.js';

export const ENRICHED_COLUMNS = 'body::text AS body, enrich::text AS enrich';

export interface EnrichedRow {
  body: string;
  enrich: string | null;
}

/** The stored event: the body, with `enrich`'s keys appended to its context. */
export function storedEvent(row: EnrichedRow): Record<string, unknown> {
  const event = decJson<Record<string, unknown>>(row.body);
  if (row.enrich === null) return event;
  // A bulk-stored event has a plain-object context without these keys (contracts/log-line.ts bulkShape).
  Object.assign(event.context as Record<string, unknown>, decJson<Record<string, unknown>>(row.enrich));
  return event;
}
