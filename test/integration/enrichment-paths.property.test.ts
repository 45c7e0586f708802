// One enrichment rule, two paths (issues 10 and 12): the embedded store's bulk path (DuckDB reads the
// segment file) and the PostgreSQL store's (the processor reads a bulk-rule line's head only) keep an
// event the bulk rule covers as the edge wrote it, with its enrichment beside it, merged back on read;
// every other line takes the per-event enrich step. For any events, client IPs and SOLUTE_IP_MODE, a
// batch written in the log format (contracts/log-line.ts, as the edge writes it) and loaded through
// the bulk path reads back exactly (keys in order) as the same batch loaded line by line through the
// per-event steps. Real DuckDB files and segment files; a real PostgreSQL database (skipped without
// one, outside CI).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDbStore } from '../../src/store/duckdb/duckdb.store.js';
import { BatchLoader } from '../../src/process/batch-loader.js';
import { createEventSteps } from '../../src/process/pipeline.js';
import { createBulkEnrich, type IpMode } from '../../src/process/steps/enrich.js';
import { bulkShape, bulkUserAgent, lineHead, lineTail, readBulkLine, BULK_LINE_HEAD } from '../../src/contracts/log-line.js';
import { storedClientIp } from '../../src/lib/ip.js';
import { PgStore } from '../../src/store/postgres/pg.store.js';
import { Client as PgClient } from 'pg';
import { dropSchema, requirePostgres, testSchema } from '../helpers/services.js';

const pgUrl = await requirePostgres();

const UAS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15',
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36',
  'curl/8.5.0',
  'Googlebot/2.1 (+http://www.google.com/bot.html)',
  '',
];
const IPS = ['203.0.113.7', '::ffff:198.51.100.9', '2001:db8:1:2::5', '::1', null];

const value = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 12 }), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null));
/** Mostly absent: a context without any of ip, browser, os and device is the bulk rule's shape. */
const rarely = <T>(arb: fc.Arbitrary<T>) => fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb });
const context = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      userAgent: rarely(fc.oneof(fc.constantFrom(...UAS), fc.string({ maxLength: 20 }), fc.integer())).map((ua) => ua ?? UAS[0]),
      locale: rarely(fc.constantFrom('en-US', 'de-DE')),
      page: rarely(fc.record({ path: fc.string({ maxLength: 10 }), title: value })),
      ip: rarely(fc.oneof(fc.constant(null), fc.constantFrom('192.0.2.44', '::ffff:192.0.2.45', 'not an ip'))),
      browser: rarely(fc.oneof(fc.constant(null), fc.record({ name: fc.constantFrom('Own', '') }), fc.constant('text'))),
      os: rarely(fc.record({ name: fc.constant('Own OS') })),
      device: rarely(fc.oneof(fc.record({ model: fc.constant('X1') }), fc.constant([]))),
      library: rarely(fc.record({ name: fc.constant('analytics.js'), version: fc.constant('4.1.0') })),
    }),
  },
  { weight: 1, arbitrary: fc.oneof(fc.constant(undefined), fc.constant(null), fc.constant('text'), fc.constant([1]), fc.constant({})) },
);
const event = fc.record({
  type: fc.constantFrom('track', 'track', 'page', 'screen', 'identify', 'group', 'alias'),
  properties: fc.dictionary(fc.string({ maxLength: 6 }), value, { maxKeys: 4 }),
  context,
});

interface Run {
  mode: IpMode;
  clientIp: string | null;
  events: Array<{ type: string; properties: Record<string, unknown>; context?: unknown }>;
}

describe('enrichment: the bulk path and the per-event path store the same events', () => {
  let dir: string;
  const stores: Record<IpMode, { bulk: DuckDbStore; perEvent: DuckDbStore }> = {} as never;
  let seq = 0;
  let segment = 0;
  let bulkLinesSeen = 0;
  /** Bulk lines the processor reads without parsing (not those holding NUL or a lone surrogate). */
  let unparsedLines = 0;

  // Both PostgreSQL stores in one schema would share the events table: each has its own.
  let pg: { bulk: PgStore; perEvent: PgStore; schemas: string[] } | null = null;

  beforeAll(async () => {
    if (pgUrl !== null) {
      const schemas = [testSchema('enrich_bulk'), testSchema('enrich_per_event')];
      pg = { bulk: await PgStore.open(pgUrl, { schema: schemas[0] }), perEvent: await PgStore.open(pgUrl, { schema: schemas[1] }), schemas };
    }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'solute-enrich-paths-'));
    for (const mode of ['keep', 'truncate', 'drop'] as const) {
      const open = (name: string) => DuckDbStore.open(path.join(dir, mode, name, 'store.duckdb'), { memoryLimit: '256MB', threads: 1 });
      stores[mode] = { bulk: await open('bulk'), perEvent: await open('per-event') };
    }
  });
  afterAll(async () => {
    if (pg !== null) {
      await Promise.all([pg.bulk.close(), pg.perEvent.close()]);
      for (const schema of pg.schemas) await dropSchema(pgUrl!, schema);
    }
    for (const s of Object.values(stores)) await Promise.all([s.bulk.close(), s.perEvent.close()]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('for any events, client IP and SOLUTE_IP_MODE', async () => {
    const logger = pino({ level: 'silent' });
    await fc.assert(
      fc.asyncProperty(
        fc.record({ mode: fc.constantFrom<IpMode>('keep', 'truncate', 'drop'), clientIp: fc.constantFrom(...IPS), events: fc.array(event, { minLength: 1, maxLength: 12 }) }),
        async (run: Run) => {
          const project = `p${++segment}`;
          const ipJson = JSON.stringify(storedClientIp(run.clientIp, run.mode));
          // The lines as the edge writes them (ingest/accept-batch.ts): the format module's head and tail.
          let text = '';
          run.events.forEach((ev, k) => {
            // As the edge has it: parsed from JSON (plain objects, no undefined).
            const stored = JSON.parse(JSON.stringify({
              type: ev.type,
              ...(ev.type === 'track' ? { event: 'Clicked' } : {}),
              ...(ev.type === 'group' ? { groupId: 'g1' } : {}),
              ...(ev.type === 'alias' ? { previousId: 'old' } : {}),
              userId: `u${k % 3}`,
              messageId: `${project}-m${k}`,
              properties: ev.properties,
              ...(ev.context === undefined ? {} : { context: ev.context }),
              timestamp: '2026-01-01T00:00:00.000Z',
              receivedAt: '2026-01-01T00:00:00.000Z',
            })) as Record<string, unknown>;
            const isBulk = bulkShape(stored);
            text += lineHead(project, isBulk) + ++seq + lineTail(stored, Date.UTC(2026, 0, 1) + k, Date.UTC(2026, 0, 1), ipJson, isBulk ? bulkUserAgent(stored) : null, false, JSON.stringify(stored));
          });
          bulkLinesSeen += text.split('\n').filter((l) => l.startsWith(BULK_LINE_HEAD)).length;
          unparsedLines += text.split('\n').filter((l) => readBulkLine(l) !== null).length;
          const file = path.join(dir, `${segment}.ndjson`);
          fs.writeFileSync(file, text);

          const { bulk, perEvent } = stores[run.mode];
          const steps = createEventSteps({ ipMode: run.mode });
          const viaBulk = await new BatchLoader({ store: bulk, logger, steps }).loadFiles(bulk, [{ id: segment, file }], createBulkEnrich({ ipMode: run.mode }));
          expect(viaBulk).not.toBeNull();
          await new BatchLoader({ store: perEvent, logger, steps }).load(segment, text);

          const read = async (store: DuckDbStore | PgStore) => (await store.queryEvents(project, { limit: 100 })).events.map((e) => JSON.stringify(e));
          const expected = await read(perEvent);
          expect(await read(bulk)).toEqual(expected);
          expect(expected.length).toBe(run.events.length);
          if (pg !== null) {
            // The cluster's processor: the same lines as one JetStream message, with and without the lookups.
            await new BatchLoader({ store: pg.bulk, logger, steps, bulkEnrich: createBulkEnrich({ ipMode: run.mode }) }).load(segment, text, 'bulk');
            await new BatchLoader({ store: pg.perEvent, logger, steps }).load(segment, text, 'per-event');
            expect(await read(pg.perEvent)).toEqual(expected);
            expect(await read(pg.bulk)).toEqual(expected);
            const profile = (await pg.bulk.profile(project, 'u0', 20))?.recentEvents.map((e) => JSON.stringify(e));
            expect(profile).toEqual((await pg.perEvent.profile(project, 'u0', 20))?.recentEvents.map((e) => JSON.stringify(e)));
          }
        },
      ),
      { numRuns: 150 },
    );
    // The property is about the bulk path: it must have been taken, often.
    expect(bulkLinesSeen).toBeGreaterThan(150);
    if (pg !== null) {
      // PostgreSQL's bulk path keeps enrichment beside the event (a line with nothing to add keeps {}).
      const beside = async (schema: string) => {
        const c = new PgClient({ connectionString: pgUrl!, options: `-c search_path=${schema}` });
        await c.connect();
        try {
          return Number((await c.query('SELECT count(enrich) AS n FROM events')).rows[0].n);
        } finally {
          await c.end();
        }
      };
      expect(unparsedLines).toBeGreaterThan(150);
      expect(await beside(pg.schemas[0])).toBe(unparsedLines);
      expect(await beside(pg.schemas[1])).toBe(0);
    }
  }, 120_000);
});
