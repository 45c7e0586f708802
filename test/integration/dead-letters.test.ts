// Processing failures: an event a step cannot handle goes to the dead letters with the step's name and
// reason, and `bin/solute dead-letters list|replay` stores it once the cause is fixed, through the
// running server's admin socket or, with the server stopped, by opening the store.
import { execFile } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import type { EventStep } from '../../src/process/pipeline.js';
import { BIN, makeEvent, postEvents, readAllEvents, startTestServer, tempDir, waitForDrain, type TestServer } from '../helpers/solute.js';

/** Stands for a bug in a processing step: it throws on events marked as poison. */
const buggyStep: EventStep = {
  name: 'enrich',
  run(line) {
    if ((line.e.properties as Record<string, unknown> | undefined)?.poison === true) throw new Error('poisoned by the test');
  },
};

/** Runs bin/solute without blocking this process, which hosts the server the CLI talks to. */
function solute(dataDir: string, ...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(BIN, args, { env: { ...process.env, SOLUTE_DATA_DIR: dataDir }, encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ status: err ? ((err as { code?: number }).code ?? null) : 0, stdout: stdout.trim(), stderr: stderr.trim() });
    });
  });
}

async function listJson(dataDir: string): Promise<Array<Record<string, unknown>>> {
  const r = await solute(dataDir, 'dead-letters', 'list', '--json');
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Array<Record<string, unknown>>;
}

const servers: TestServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.close().catch(() => undefined);
});

describe('dead letters', () => {
  it('keeps what a step could not handle and replays it once the step is fixed, exactly once', async () => {
    const dataDir = tempDir();
    let s = await startTestServer({}, dataDir, { eventSteps: [buggyStep] });
    servers.push(s);
    const good = [makeEvent(), makeEvent(), makeEvent()];
    const poison = [makeEvent({ properties: { poison: true, n: 1 } }), makeEvent({ properties: { poison: true, n: 2 } })];
    const r = await postEvents(s.url, s.writeKey, { batch: [good[0], poison[0], good[1], poison[1], good[2]], sentAt: new Date().toISOString() });
    // The acknowledgement happened before processing: all five are accepted.
    expect(r.body).toMatchObject({ processed: 5, failed: 0 });
    await waitForDrain(s.url);
    expect((await readAllEvents(s.url, s.secretKey)).map((e) => e.messageId).sort()).toEqual(good.map((e) => e.messageId).sort());

    // Listed through the running server's admin socket.
    const dead = await listJson(dataDir);
    expect(dead).toHaveLength(2);
    for (const d of dead) expect(d).toMatchObject({ project: 'test', step: 'enrich', reason: 'poisoned by the test', attempts: 1 });
    expect(dead.map((d) => JSON.parse(String(d.raw)).m).sort()).toEqual(poison.map((e) => e.messageId).sort());
    const table = await solute(dataDir, 'dead-letters', 'list');
    expect(table.stdout.split('\n')[0]).toBe('ID\tPROJECT\tSEGMENT:LINE\tSTEP\tATTEMPTS\tCREATED\tREASON');
    expect(table.stdout).toContain('poisoned by the test');

    // Replayed before the fix: they fail again, stay, and the command says so (exit 1).
    const early = await solute(dataDir, 'dead-letters', 'replay', '--all');
    expect(early.status).toBe(1);
    expect(early.stdout).toBe('stored 0, failed again 2, not found 0');
    expect((await listJson(dataDir)).map((d) => d.attempts)).toEqual([2, 2]);

    // The fix (a restart without the bug); replay one by id through the server.
    await s.close();
    s = await startTestServer({}, dataDir);
    servers.push(s);
    const first = dead[0].id as number;
    expect((await solute(dataDir, 'dead-letters', 'replay', '--id', String(first))).stdout).toBe('stored 1, failed again 0, not found 0');
    expect((await solute(dataDir, 'dead-letters', 'replay', '--id', String(first))).stdout).toBe('stored 0, failed again 0, not found 1');
    expect((await listJson(dataDir)).map((d) => d.id)).toEqual([dead[1].id]);
    expect(await readAllEvents(s.url, s.secretKey)).toHaveLength(4);
    await s.close();

    // With the server stopped, the CLI opens the store itself.
    expect((await solute(dataDir, 'dead-letters', 'replay', '--all')).stdout).toBe('stored 1, failed again 0, not found 0');
    expect(await listJson(dataDir)).toEqual([]);
    s = await startTestServer({}, dataDir);
    servers.push(s);
    const stored = await readAllEvents(s.url, s.secretKey);
    expect(stored.map((e) => e.messageId).sort()).toEqual([...good, ...poison].map((e) => e.messageId).sort());
    const replayed = stored.find((e) => e.messageId === poison[1].messageId)!;
    expect(replayed.properties).toEqual({ poison: true, n: 2 });
  });

  it('refuses a replay without ids or --all, and bad ids, with a clear message', async () => {
    const dataDir = tempDir();
    const none = await solute(dataDir, 'dead-letters', 'replay');
    expect(none.status).toBe(2);
    expect(none.stderr).toMatch(/--id ID .*or --all/);
    const bad = await solute(dataDir, 'dead-letters', 'replay', '--id', 'x');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--id takes dead-letter ids/);
    expect((await solute(dataDir, 'dead-letters', 'list', '--limit', '0')).status).toBe(2);
  });
});
