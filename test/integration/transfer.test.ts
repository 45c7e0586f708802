// Moving an embedded installation to PostgreSQL: bin/solute export, then bin/solute import with
// SOLUTE_STORE set. Events, keys, dead letters move; profiles and groups are rebuilt identically.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, makeEvent, postEvents, readAllEvents, startTestServer, tempDir, waitForDrain } from '../helpers/solute.js';
import { dropSchema, requirePostgres, testSchema } from '../helpers/services.js';
import { PgStore } from '../../src/store/postgres/pg.store.js';
import { PgMetaStore } from '../../src/store/postgres/pg.meta.js';
import type { EventStep } from '../../src/process/pipeline.js';

const pgUrl = await requirePostgres();
const schemas: string[] = [];
afterAll(async () => {
  for (const s of schemas) await dropSchema(pgUrl!, s);
});

function solute(env: Record<string, string>, ...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(BIN, args, { env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 1 << 28 }, (err, stdout, stderr) => {
      resolve({ status: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
  });
}

const poison: EventStep = {
  name: 'enrich',
  run(line) {
    if ((line.e.properties as Record<string, unknown> | undefined)?.poison === true) throw new Error('poisoned by the test');
  },
};

describe.skipIf(pgUrl === null)('bin/solute export | import (embedded → PostgreSQL)', () => {
  it('moves events, keys and dead letters, rebuilds profiles and groups, and can run twice', async () => {
    const dataDir = tempDir();
    const s = await startTestServer({}, dataDir, { eventSteps: [poison] });
    const events = [
      makeEvent({ type: 'track', anonymousId: 'anon-T', userId: undefined, properties: { n: 1, nul: 'a\u0000b' } }),
      makeEvent({ type: 'identify', event: undefined, userId: 'user-T', anonymousId: 'anon-T', traits: { plan: 'pro' } }),
      makeEvent({ type: 'group', event: undefined, userId: 'user-T', groupId: 'g-T', traits: { size: 3 } }),
      makeEvent({ type: 'alias', event: undefined, previousId: 'old-T', userId: 'user-T' }),
      makeEvent({ properties: { poison: true } }),
    ];
    expect((await postEvents(s.url, s.writeKey, { batch: events, sentAt: new Date().toISOString() })).body).toMatchObject({ processed: 5 });
    await waitForDrain(s.url);
    const stored = await readAllEvents(s.url, s.secretKey);
    const profile = (await (await fetch(`${s.url}/api/profiles/anon-T`, { headers: { authorization: `Bearer ${s.secretKey}` } })).json()) as { userId: string; traits: object; ids: string[]; eventCount: number };
    await s.close();

    // The server must be stopped for export (DuckDB has one writer); it is.
    const file = path.join(dataDir, 'export.ndjson');
    const ex = await solute({ SOLUTE_DATA_DIR: dataDir }, 'export', '--out', file);
    expect(ex.status, ex.stderr).toBe(0);
    expect(ex.stderr).toMatch(/exported 4 events, 1 dead letters, 2 keys/);

    const schema = testSchema();
    schemas.push(schema);
    const env = { SOLUTE_DATA_DIR: dataDir, SOLUTE_STORE: pgUrl!, SOLUTE_PG_SCHEMA: schema };
    const im = await solute(env, 'import', '--in', file);
    expect(im.status, im.stderr).toBe(0);
    expect(im.stderr).toMatch(/imported 4 events, 1 dead letters, 2 keys/);
    // Again: nothing doubles.
    const again = await solute(env, 'import', '--in', file);
    expect(again.stderr).toMatch(/imported 0 events, 0 dead letters, 0 keys/);

    const store = await PgStore.open(pgUrl!, { schema });
    const pool = new pg.Pool({ connectionString: pgUrl! });
    const meta = await PgMetaStore.open(pool, { schema });
    try {
      expect(await store.countEvents()).toBe(4);
      const page = await store.queryEvents('test', { limit: 100 });
      expect(page.events.map((e) => e.messageId).sort()).toEqual(stored.map((e) => e.messageId).sort());
      expect(page.events.find((e) => e.type === 'track')!.properties).toEqual({ n: 1, nul: 'a\u0000b' });
      expect(profile.ids).toEqual(['anon-T', 'old-T', 'user-T']);
      const p = await store.profile('test', 'old-T', 10);
      expect({ userId: p!.userId, traits: p!.traits, ids: p!.ids, eventCount: p!.eventCount }).toEqual({
        userId: profile.userId,
        traits: profile.traits,
        ids: profile.ids,
        eventCount: profile.eventCount,
      });
      expect((await store.group('test', 'g-T', { limit: 10 }))!.traits).toEqual({ size: 3 });
      const dead = await store.deadLetters({ limit: 10 });
      expect(dead).toHaveLength(1);
      expect(dead[0]).toMatchObject({ project: 'test', step: 'enrich', reason: 'poisoned by the test' });
      // The keys work against PostgreSQL, still only as hashes (a server's key store watches: it loads the keys).
      await meta.watch(60_000);
      expect(meta.resolve(s.writeKey)).toMatchObject({ project: 'test', kind: 'write' });
      expect(meta.resolve(s.secretKey)).toMatchObject({ project: 'test', kind: 'secret' });
    } finally {
      await meta.close();
      await pool.end();
      await store.close();
    }
    expect(fs.readFileSync(file, 'utf8')).not.toContain(s.writeKey);
  }, 120_000);

  it('refuses to export while the server runs, and to import without SOLUTE_STORE', async () => {
    const s = await startTestServer();
    const ex = await solute({ SOLUTE_DATA_DIR: s.dataDir }, 'export');
    expect(ex.status).toBe(1);
    expect(ex.stderr).toMatch(/in use: stop solute serve/);
    await s.close();
    const im = await solute({ SOLUTE_DATA_DIR: s.dataDir }, 'import');
    expect(im.status).toBe(2);
    expect(im.stderr).toMatch(/set SOLUTE_STORE/);
  }, 60_000);
});
