// Durability of the acknowledgement: SIGKILL mid-load loses nothing acknowledged and stores nothing twice.
import { afterEach, describe, expect, it } from 'vitest';
import { cli, makeEvent, postEvents, readAllEvents, sleep, spawnServer, tempDir, waitForDrain, type ChildServer } from '../helpers/solute.js';

type Outcome = 'acked' | 'unknown';

describe('crash safety', () => {
  const servers: ChildServer[] = [];
  afterEach(() => {
    for (const s of servers.splice(0)) s.proc.kill('SIGKILL');
  });

  it('keeps every acknowledged event exactly once across a SIGKILL mid-load, and retries are deduplicated', async () => {
    const dataDir = tempDir();
    const writeKey = cli(dataDir, 'keys', 'create', '--project', 'crash');
    const secretKey = cli(dataDir, 'keys', 'create', '--project', 'crash', '--secret');
    const first = await spawnServer(dataDir, { SOLUTE_SEGMENT_MAX_AGE_MS: '200' });
    servers.push(first);

    const sent = new Map<string, number>(); // messageId -> unique value carried in properties.n
    const batches: Array<{ body: { batch: Array<Record<string, unknown>>; sentAt: string }; outcome: Outcome }> = [];
    let n = 0;
    let stop = false;
    const client = async (c: number) => {
      while (!stop) {
        const batch = Array.from({ length: 20 }, () => {
          const e = makeEvent({ messageId: `c${c}-${n}`, properties: { n } });
          sent.set(e.messageId as string, n++);
          return e;
        });
        const body = { batch, sentAt: new Date().toISOString() };
        const entry = { body: structuredClone(body), outcome: 'unknown' as Outcome };
        batches.push(entry);
        try {
          const r = await postEvents(first.url, writeKey, body);
          if (r.status === 200 && r.body.processed === 20) entry.outcome = 'acked';
        } catch {
          return; // connection died with the server: the outcome of this batch is unknown
        }
      }
    };
    const clients = Array.from({ length: 8 }, (_, c) => client(c));
    await sleep(1500);
    first.proc.kill('SIGKILL');
    stop = true;
    await Promise.all(clients);
    await first.exited;

    const acked = batches.filter((b) => b.outcome === 'acked');
    expect(acked.length).toBeGreaterThan(10);

    const second = await spawnServer(dataDir);
    servers.push(second);
    // An SDK retries what it did not see acknowledged, with the same messageIds.
    for (const b of batches.filter((x) => x.outcome === 'unknown')) {
      const r = await postEvents(second.url, writeKey, { ...b.body, sentAt: new Date().toISOString() });
      expect(r.status).toBe(200);
    }
    // And a resend of an acknowledged batch is recognised in full.
    const again = await postEvents(second.url, writeKey, acked[0].body);
    expect(again.body).toMatchObject({ processed: 20, duplicates: 20 });

    await waitForDrain(second.url);
    const stored = await readAllEvents(second.url, secretKey);
    const counts = new Map<string, number>();
    for (const e of stored) counts.set(e.messageId as string, (counts.get(e.messageId as string) ?? 0) + 1);

    const lost = [...sent.keys()].filter((id) => !counts.has(id));
    const doubled = [...counts].filter(([, c]) => c > 1);
    const phantoms = [...counts.keys()].filter((id) => !sent.has(id));
    expect({ lost: lost.length, doubled: doubled.length, phantoms: phantoms.length }).toEqual({ lost: 0, doubled: 0, phantoms: 0 });
    for (const e of stored) expect((e.properties as { n: number }).n).toBe(sent.get(e.messageId as string));
    expect(stored.length).toBe(sent.size);
  });

  it('recognises duplicates after a SIGKILL before the events reached the store', async () => {
    const dataDir = tempDir();
    const writeKey = cli(dataDir, 'keys', 'create', '--project', 'p');
    const secretKey = cli(dataDir, 'keys', 'create', '--project', 'p', '--secret');
    // Segments close only after a minute: the events are in the log, not yet in the store.
    const first = await spawnServer(dataDir, { SOLUTE_SEGMENT_MAX_AGE_MS: '60000' });
    servers.push(first);
    const body = { batch: [makeEvent(), makeEvent(), makeEvent()], sentAt: new Date().toISOString() };
    expect((await postEvents(first.url, writeKey, body)).body).toMatchObject({ processed: 3, duplicates: 0 });
    first.proc.kill('SIGKILL');
    await first.exited;

    const second = await spawnServer(dataDir);
    servers.push(second);
    const r = await postEvents(second.url, writeKey, { ...body, batch: [...body.batch, makeEvent()] });
    expect(r.body).toMatchObject({ success: true, processed: 4, duplicates: 3, failed: 0 });
    await waitForDrain(second.url);
    const stored = await readAllEvents(second.url, secretKey);
    expect(new Set(stored.map((e) => e.messageId)).size).toBe(4);
    expect(stored).toHaveLength(4);
  });

  it('on SIGTERM finishes in-flight requests, stores them and exits 0; dedupe holds after the restart', async () => {
    const dataDir = tempDir();
    const writeKey = cli(dataDir, 'keys', 'create', '--project', 'p');
    const secretKey = cli(dataDir, 'keys', 'create', '--project', 'p', '--secret');
    const first = await spawnServer(dataDir);
    servers.push(first);
    const bodies = Array.from({ length: 20 }, () => ({ batch: Array.from({ length: 50 }, () => makeEvent()), sentAt: new Date().toISOString() }));
    const inflight = bodies.map((b) => postEvents(first.url, writeKey, b).catch(() => null));
    // SIGTERM as soon as the first answer is back: the others are in flight or about to be sent.
    await Promise.race(inflight);
    first.proc.kill('SIGTERM');
    const answers = await Promise.all(inflight);
    expect(await first.exited).toBe(0);
    const acked = bodies.filter((_, i) => answers[i]?.status === 200);
    const refused = bodies.filter((_, i) => answers[i]?.status === 503);
    expect(acked.length).toBeGreaterThan(0);
    expect(acked.length + refused.length + answers.filter((a) => a === null).length).toBe(bodies.length);

    const second = await spawnServer(dataDir);
    servers.push(second);
    await waitForDrain(second.url);
    const stored = await readAllEvents(second.url, secretKey);
    const storedIds = new Set(stored.map((e) => e.messageId));
    expect(stored.length).toBe(storedIds.size);
    for (const b of acked) for (const e of b.batch) expect(storedIds.has(e.messageId)).toBe(true);
    // A request refused with 503 during shutdown was not accepted: none of it is stored.
    for (const b of refused) for (const e of b.batch) expect(storedIds.has(e.messageId)).toBe(false);

    const resend = await postEvents(second.url, writeKey, acked[0]);
    expect(resend.body).toMatchObject({ processed: 50, duplicates: 50 });
  });
});
