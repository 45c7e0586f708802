// The EventLog contract against the JetStream log on the shared NATS server (own stream per test),
// read back through the processors' consumer (NatsSource).
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { connectNats, ensureStream } from '../../src/log/nats.connection.js';
import { NatsLog, splitLines } from '../../src/log/nats.log.js';
import { NATS_URL, natsAvailable } from '../helpers/nats-available.js';
import { drainStream, linesOf } from '../helpers/nats-drain.js';
import { batchOf, eventLogContract } from './event-log.contract.js';

const available = await natsAvailable();

async function openNatsLog(opts: { maxPayloadHeadroom?: number } = {}) {
  const stream = `solute_test_${randomBytes(4).toString('hex')}`;
  const nc = await connectNats({ servers: NATS_URL, name: 'solute-contract-test', waitOnFirstConnect: false });
  const jsm = await jetstreamManager(nc);
  await ensureStream(jsm, { stream, replicas: 1, storage: 'file', duplicateWindowMs: 120_000 });
  const log = await NatsLog.open(nc, { stream, appendTimeoutMs: 1500, publishTimeoutMs: 500, headroomBytes: opts.maxPayloadHeadroom });
  return {
    stream,
    nc,
    log,
    readAll: async () => linesOf(await drainStream(nc, stream)),
    breakWrites: async () => {
      await jsm.streams.delete(stream);
    },
    cleanup: async () => {
      await jsm.streams.delete(stream).catch(() => undefined);
      await nc.close();
    },
  };
}

if (available) {
  eventLogContract('NATS JetStream', () => openNatsLog());

  describe('NATS JetStream log specifics', () => {
    it('splits a batch larger than max_payload into messages at line boundaries, all acked before append resolves', async () => {
      // Headroom close to the whole max_payload: a ~24 KB batch must travel as several messages.
      const max = 1024 * 1024;
      const t = await openNatsLog({ maxPayloadHeadroom: max - 8192 });
      try {
        const { batch, lines } = batchOf(t.log, Array.from({ length: 100 }, (_, i) => `big-${i}`));
        expect(Buffer.byteLength(batch.text)).toBeGreaterThan(3 * 8192);
        await t.log.append(batch);
        await t.log.close();
        const messages = await drainStream(t.nc, t.stream);
        expect(messages.size).toBeGreaterThan(2);
        for (const text of messages.values()) {
          expect(Buffer.byteLength(text)).toBeLessThanOrEqual(8192);
          expect(text.endsWith('\n')).toBe(true);
        }
        expect(linesOf(messages)).toEqual(lines);
      } finally {
        await t.cleanup();
      }
    });

    it('rejects a batch with a line larger than a message may be, naming the fix', () => {
      const buf = Buffer.from('a\n' + 'x'.repeat(100) + '\nb\n');
      expect(() => splitLines(buf, 50)).toThrow(/max_payload/);
      expect(splitLines(Buffer.from('aa\nbb\ncc\n'), 6).map((p) => Buffer.from(p).toString())).toEqual(['aa\nbb\n', 'cc\n']);
    });

    it('an append waiting behind a failed one sees failures change before it resolves', async () => {
      const t = await openNatsLog();
      try {
        await t.breakWrites();
        const failing = t.log.append(batchOf(t.log, ['gone']).batch).catch(() => 'rejected');
        const before = t.log.failures;
        // A request whose events were all duplicates of the failing one's: an empty append.
        await t.log.append({ text: '', count: 0, project: 'p1', keys: new Uint32Array(0), days: new Uint16Array(0) });
        expect(t.log.failures).toBe(before + 1);
        expect(await failing).toBe('rejected');
      } finally {
        await t.cleanup();
      }
    });
  });
} else {
  describe.skip('NATS JetStream log (NATS not reachable)', () => {
    it('skipped', () => undefined);
  });
}

if (available) {
  describe('NatsSource (the processors\' consumer group)', () => {
    it('gives a message a processor died holding to another one, and a failed one back after its nak delay', async () => {
      const t = await openNatsLog();
      const { NatsSource } = await import('../../src/log/nats.source.js');
      const logged: string[] = [];
      const logger = { warn: (_: object, m: string) => void logged.push(m), error: (_: object, m: string) => void logged.push(m) };
      const other = await connectNats({ servers: NATS_URL, name: 'solute-test-doomed', waitOnFirstConnect: false });
      try {
        const { batch } = batchOf(t.log, ['held-1', 'held-2']);
        await t.log.append(batch);
        // Processor A takes the message and dies before its commit: its connection drops, no ack.
        const a = await NatsSource.open(other, { stream: t.stream, logger, ackWaitMs: 1000 });
        let gotA: number | null = null;
        a.start(async (b) => {
          gotA = b.id;
          await other.close();
          await new Promise(() => undefined); // never returns, like a killed process
        });
        const deadline = Date.now() + 5000;
        while (gotA === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        expect(gotA).not.toBeNull();

        // Processor B gets it after ack_wait; its first attempt fails (nak'ed), the next one is stored.
        const b = await NatsSource.open(t.nc, { stream: t.stream, logger, ackWaitMs: 1000, nakDelayMs: 200 });
        const attempts: number[] = [];
        const stored: string[] = [];
        b.start(async (m) => {
          attempts.push(m.id);
          if (attempts.length === 1) throw new Error('store unavailable');
          stored.push(m.text);
        });
        while (stored.length === 0 && Date.now() < deadline + 10_000) await new Promise((r) => setTimeout(r, 20));
        await b.stop();
        expect(attempts).toEqual([gotA, gotA]);
        expect(stored).toEqual([batch.text]);
        expect(logged).toContain('log batch failed; JetStream redelivers it');
        expect(await b.refreshBacklog()).toBe(0);
      } finally {
        if (!other.isClosed()) await other.close();
        await t.cleanup();
      }
    });
  });
}
