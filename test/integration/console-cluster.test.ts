// The console in cluster mode (SOLUTE_LOG + SOLUTE_STORE): two processes over the shared NATS and
// PostgreSQL. A session opened on one is valid on the other and signing out on one ends it on both;
// each process's live stream shows what that process acknowledges (the documented limit). Skipped
// with a message when NATS or PostgreSQL is missing, failing under SOLUTE_CI.
import crypto from 'node:crypto';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { loadConfig } from '../../src/config.js';
import { startSolute, type RunningSolute } from '../../src/main.js';
import { PgMetaStore } from '../../src/store/postgres/pg.meta.js';
import { NATS_URL, natsAvailable } from '../helpers/nats-available.js';
import { dropSchema, requirePostgres, testSchema } from '../helpers/services.js';
import { makeEvent, postEvents, tempDir } from '../helpers/solute.js';
import { expectError } from '../helpers/assertions.js';
import { liveRows, openSse, signIn } from '../helpers/console.js';

const pgUrl = await requirePostgres();
const nats = pgUrl ? await natsAvailable() : false;

describe.skipIf(!pgUrl || !nats)('console in a cluster', () => {
  const schema = testSchema('console_cluster');
  const stream = `console_${crypto.randomBytes(4).toString('hex')}`;
  let a: RunningSolute;
  let b: RunningSolute;
  let pool: pg.Pool;
  let writeKey: string;
  let secretKey: string;

  beforeAll(async () => {
    pool = new pg.Pool({ connectionString: pgUrl!, max: 2 });
    const meta = await PgMetaStore.open(pool, { schema });
    writeKey = await meta.createKey('shop', 'write');
    secretKey = await meta.createKey('shop', 'secret');
    await meta.close();
    const start = (role: 'all' | 'ingest') =>
      startSolute(
        loadConfig({}, { dataDir: tempDir(), port: 0, host: '127.0.0.1', log: NATS_URL, store: pgUrl!, pgSchema: schema, natsStream: stream, role, keyRefreshMs: 200 }),
        pino({ level: process.env.SOLUTE_TEST_LOG ?? 'silent' }),
      );
    a = await start('all');
    b = await start('ingest');
  });

  afterAll(async () => {
    await b?.close();
    await a?.close();
    await pool?.end();
    const nc = await connect({ servers: NATS_URL });
    await (await jetstreamManager(nc)).streams.delete(stream).catch(() => undefined);
    await nc.close();
    await dropSchema(pgUrl!, schema);
  });

  it('a session opened on one process works on the other, and signing out on one ends it on both', async () => {
    const s = await signIn(a.url, secretKey);
    for (const url of [a.url, b.url]) {
      const r = await fetch(`${url}/api/console/session`, { headers: { cookie: s.cookie } });
      expect(r.status, url).toBe(200);
      expect((await fetch(`${url}/api/dead-letters`, { headers: { cookie: s.cookie } })).status).toBe(200);
    }
    const out = await fetch(`${b.url}/api/console/session`, { method: 'DELETE', headers: { cookie: s.cookie, 'x-solute-csrf': s.csrf } });
    expect(out.status).toBe(204);
    const r = await fetch(`${a.url}/api/events?limit=1`, { headers: { cookie: s.cookie } });
    expectError({ status: r.status, headers: r.headers, body: await r.json() }, 401, 'SOL_ERR_AUTH_SESSION_REQUIRED');
  });

  it("each process's live stream shows the events that process acknowledges", async () => {
    const s = await signIn(a.url, secretKey);
    const onB = await openSse(`${b.url}/api/console/live`, { cookie: s.cookie });
    expect(onB.status).toBe(200);
    const [viaA, viaB] = [makeEvent({ event: 'Via A' }), makeEvent({ event: 'Via B' })];
    expect((await postEvents(a.url, writeKey, { batch: [viaA], sentAt: new Date().toISOString() })).status).toBe(200);
    expect((await postEvents(b.url, writeKey, { batch: [viaB], sentAt: new Date().toISOString() })).status).toBe(200);
    await onB.waitFor((m) => m.event === 'events' && m.data.includes('Via B'));
    await new Promise((r) => setTimeout(r, 500)); // a flush later: had A's event reached B's stream, it would be here
    expect(liveRows(onB).map((x) => x.event.event)).toEqual(['Via B']);
    onB.close();
  });
});
