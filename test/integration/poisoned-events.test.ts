// A poisoned event cannot stall the processor (issue 13): an event that makes its whole batch's
// commit fail, again and again, goes to the dead letters with its reason once the batch has failed 3
// times in a row, and the rest of its batch is stored; the processor is ready again and goes on.
// Over real HTTP, with the embedded store (DuckDB) and with the cluster's (NATS JetStream + PostgreSQL).
//
// The poison stands for a bug in a per-event step (StartOptions.eventSteps, as in dead-letters.test.ts):
// it leaves a value in the event that no store can serialize, so the failure comes from the store's
// transaction, not from the step (a throwing step only ever dead-letters its own event).
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startSolute } from '../../src/main.js';
import type { EventStep } from '../../src/process/pipeline.js';
import { PgStore } from '../../src/store/postgres/pg.store.js';
import { getJson, metricValue, metricsText } from '../helpers/assertions.js';
import { NATS_URL, natsAvailable } from '../helpers/nats-available.js';
import { dropSchema, requirePostgres, testSchema } from '../helpers/services.js';
import { BIN, makeEvent, postEvents, readAllEvents, startTestServer, tempDir, waitForDrain } from '../helpers/solute.js';

const poisonStep: EventStep = {
  name: 'enrich',
  run(line) {
    const props = line.e.properties as Record<string, unknown> | undefined;
    if (props?.poison === true) props.size = 10n;
  },
};

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

function listDeadLetters(dataDir: string): Promise<Array<Record<string, unknown>>> {
  return new Promise((resolve, reject) => {
    execFile(BIN, ['dead-letters', 'list', '--json'], { env: { ...process.env, SOLUTE_DATA_DIR: dataDir }, encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(stderr)) : resolve(JSON.parse(stdout) as Array<Record<string, unknown>>),
    );
  });
}

describe('a poisoned event (embedded: DuckDB)', () => {
  it('goes to the dead letters with its reason, the rest of its segment is stored, and processing goes on', async () => {
    const s = await startTestServer({}, tempDir(), { eventSteps: [poisonStep] });
    cleanups.push(() => s.close());
    const good = [makeEvent(), makeEvent({ type: 'identify', event: undefined, userId: 'poison-user', traits: { plan: 'pro' } }), makeEvent(), makeEvent()];
    const bad = makeEvent({ properties: { poison: true } });
    const r = await postEvents(s.url, s.writeKey, { batch: [good[0], good[1], bad, good[2], good[3]], sentAt: new Date().toISOString() });
    expect(r.body).toMatchObject({ processed: 5, failed: 0 });
    await waitForDrain(s.url);

    expect((await readAllEvents(s.url, s.secretKey)).map((e) => e.messageId).sort()).toEqual(good.map((e) => e.messageId).sort());
    const dead = await listDeadLetters(s.dataDir);
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ project: 'test', step: 'store', index: 2, attempts: 1 });
    expect(String(dead[0].reason)).toMatch(/BigInt/);
    expect(JSON.parse(String(dead[0].raw)).m).toBe(bad.messageId);
    const profile = await getJson(s.url, '/api/profiles/poison-user', { authorization: `Bearer ${s.secretKey}` });
    expect(profile.body).toMatchObject({ traits: { plan: 'pro' } });

    // Ready, and the next events are stored as usual.
    const ready = await getJson(s.url, '/readyz');
    expect(ready.status, JSON.stringify(ready.body)).toBe(200);
    const next = makeEvent();
    await postEvents(s.url, s.writeKey, { batch: [next], sentAt: new Date().toISOString() });
    await waitForDrain(s.url);
    expect((await readAllEvents(s.url, s.secretKey)).map((e) => e.messageId)).toContain(next.messageId);
    expect(metricValue(await metricsText(s.url), 'solute_dead_letters_total')).toBe(1);
  }, 60_000);
});

const pgUrl = await requirePostgres();
const haveNats = await natsAvailable();

describe.skipIf(pgUrl === null || !haveNats)('a poisoned event (cluster: NATS JetStream + PostgreSQL)', () => {
  it('goes to the dead letters with its reason, the rest of its message is stored, and the message is acknowledged', async () => {
    const schema = testSchema('poison');
    const stream = `solute_poison_${randomBytes(4).toString('hex')}`;
    cleanups.push(async () => {
      const nc = await connect({ servers: NATS_URL });
      await (await jetstreamManager(nc)).streams.delete(stream).catch(() => undefined);
      await nc.close();
      await dropSchema(pgUrl!, schema);
    });
    const env = { ...process.env, SOLUTE_STORE: pgUrl!, SOLUTE_PG_SCHEMA: schema, SOLUTE_DATA_DIR: tempDir() };
    const key = (...args: string[]) => spawnSync(BIN, ['keys', 'create', '--project', 'test', ...args], { env, encoding: 'utf8' }).stdout.trim();
    const writeKey = key();
    const secretKey = key('--secret');
    expect(writeKey).toMatch(/^wk_/);
    const config = loadConfig({}, { dataDir: tempDir(), port: 0, host: '127.0.0.1', log: NATS_URL, store: pgUrl!, pgSchema: schema, natsStream: stream });
    const solute = await startSolute(config, pino({ level: process.env.SOLUTE_TEST_LOG ?? 'silent' }), { eventSteps: [poisonStep] });
    cleanups.push(() => solute.close());

    const good = [makeEvent(), makeEvent(), makeEvent()];
    const bad = makeEvent({ properties: { poison: true } });
    const r = await postEvents(solute.url, writeKey, { batch: [good[0], bad, good[1], good[2]], sentAt: new Date().toISOString() });
    expect(r.body).toMatchObject({ processed: 4, failed: 0 });
    await solute.drained(); // the message left the stream: acknowledged after its commit

    expect((await readAllEvents(solute.url, secretKey)).map((e) => e.messageId).sort()).toEqual(good.map((e) => e.messageId).sort());
    const store = await PgStore.open(pgUrl!, { schema });
    try {
      const dead = await store.deadLetters({ limit: 10 });
      expect(dead.map((d) => [d.project, d.index, d.step])).toEqual([['test', 1, 'store']]);
      expect(dead[0].reason).toMatch(/BigInt/);
      expect(JSON.parse(dead[0].raw).m).toBe(bad.messageId);
    } finally {
      await store.close();
    }
    expect(metricValue(await metricsText(solute.url), 'solute_dead_letters_total')).toBe(1);
  }, 60_000);
});
