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
        await t.log.append({ text: '', count: 0, keys: new Uint32Array(0), days: new Uint16Array(0) });
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
