// The EventLog port's contract, run against every adapter (segment files, NATS JetStream): what the
// HTTP edge relies on when it answers 200 after append() resolved.
import { afterEach, describe, expect, it } from 'vitest';
import type { AppendBatch, EventLog } from '../../src/contracts/event-log.js';

export interface LogUnderTest {
  log: EventLog;
  /** Every NDJSON line that is durable, read back the way the processor would (after log.close()). */
  readAll(): Promise<string[]>;
  /** Makes the next writes fail (e.g. the stream is deleted); absent where only a dedicated test can (disk full). */
  breakWrites?(): Promise<void>;
  cleanup(): Promise<void>;
}

/** A log line like the edge writes, unique by `m`. */
export function line(project: string, seq: number, messageId: string): string {
  const e = { type: 'track', event: 'Contract', userId: 'u1', messageId, timestamp: '2025-01-15T10:30:00.000Z', receivedAt: '2025-01-15T10:30:00.000Z', properties: { seq } };
  return JSON.stringify({ p: project, s: seq, t: 1736937000000, y: 'track', n: 'Contract', u: 'u1', a: null, m: messageId, i: null, e });
}

/** A batch of `ids.length` lines, with sequence numbers reserved from the log. */
export function batchOf(log: EventLog, ids: string[], project = 'p1'): { batch: AppendBatch; lines: string[] } {
  const first = log.reserveSeq(ids.length);
  const lines = ids.map((id, i) => line(project, first + i, id));
  const count = ids.length;
  return {
    lines,
    batch: { text: lines.map((l) => l + '\n').join(''), count, project, keys: new Uint32Array(count * 4), days: new Uint16Array(count).fill(20103) },
  };
}

export function eventLogContract(name: string, factory: () => Promise<LogUnderTest>): void {
  describe(`EventLog contract: ${name}`, () => {
    let current: LogUnderTest | null = null;
    const open = async () => (current = await factory());
    afterEach(async () => {
      await current?.log.close().catch(() => undefined);
      await current?.cleanup();
      current = null;
    });

    it('is writable when opened, and reserves consecutive sequence numbers', async () => {
      const { log } = await open();
      expect(log.writable).toBe(true);
      const a = log.reserveSeq(3);
      const b = log.reserveSeq(2);
      expect(b).toBe(a + 3);
    });

    it('reads back every line of every resolved append exactly once', async () => {
      const t = await open();
      const written: string[] = [];
      for (let k = 0; k < 6; k++) {
        const { batch, lines } = batchOf(t.log, Array.from({ length: k + 1 }, (_, i) => `seq-${k}-${i}`));
        await t.log.append(batch);
        written.push(...lines);
      }
      // Non-ASCII text survives byte for byte.
      const { batch, lines } = batchOf(t.log, ['ünïcødé-✓-𝄞']);
      await t.log.append(batch);
      written.push(...lines);
      await t.log.close();
      const read = await t.readAll();
      expect(read.sort()).toEqual(written.sort());
    });

    it('lands every one of many concurrent appends', async () => {
      const t = await open();
      const written: string[] = [];
      const appends = Array.from({ length: 60 }, (_, k) => {
        const { batch, lines } = batchOf(t.log, Array.from({ length: (k % 5) + 1 }, (_, i) => `conc-${k}-${i}`), `proj-${k % 3}`);
        written.push(...lines);
        return t.log.append(batch);
      });
      await Promise.all(appends);
      expect(t.log.failures).toBe(0);
      await t.log.close();
      const read = await t.readAll();
      expect(read.length).toBe(written.length);
      expect(new Set(read)).toEqual(new Set(written));
    });

    it('resolves an empty append (a request whose events were all duplicates)', async () => {
      const t = await open();
      await t.log.append({ text: '', count: 0, project: 'p1', keys: new Uint32Array(0), days: new Uint16Array(0) });
      await t.log.close();
      expect(await t.readAll()).toEqual([]);
    });

    it('rejects an append after close, and does not store it', async () => {
      const t = await open();
      const first = batchOf(t.log, ['before-close']);
      await t.log.append(first.batch);
      await t.log.close();
      expect(t.log.writable).toBe(false);
      await expect(t.log.append(batchOf(t.log, ['after-close']).batch)).rejects.toThrow();
      expect(await t.readAll()).toEqual(first.lines);
    });

    it('rejects an append it could not make durable, and counts the failure', async (ctx) => {
      const t = await open();
      if (!t.breakWrites) ctx.skip(); // the segment log's disk-full failures have their own test
      await t.log.append(batchOf(t.log, ['ok-1']).batch);
      const before = t.log.failures;
      await t.breakWrites!();
      await expect(t.log.append(batchOf(t.log, ['lost-1', 'lost-2']).batch)).rejects.toThrow();
      expect(t.log.failures).toBeGreaterThan(before);
      expect(t.log.writable).toBe(false);
    });
  });
}
