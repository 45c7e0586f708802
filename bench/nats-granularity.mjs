// JetStream message granularity (issue 6): acknowledged publishes/s and events/s for one message per
// event (~700 B, Nats-Msg-Id = project + messageId) against one message per 100-event request
// (~70 KB, the request's NDJSON text, as NatsLog publishes it), 64 publishes in flight, against the
// NATS at NATS_URL (default nats://127.0.0.1:4222) on a stream of its own, deleted afterwards.
// Each mode runs BENCH_SECONDS (default 4) after a 1 s warm-up; modes are interleaved over 2 rounds.
// Usage: node bench/nats-granularity.mjs
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { randomBytes } from 'node:crypto';

const URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 64);
const ROUNDS = 2;

const stream = `solute_bench_${randomBytes(3).toString('hex')}`;
const subject = `${stream}.events`;
const nc = await connect({ servers: URL, name: 'solute-bench-granularity' });
const jsm = await jetstreamManager(nc);
const js = jetstream(nc);
const info = { ...nc.info };
// Limits retention here (no consumer drains it); storage and replicas as SOLUTE_NATS_* default.
await jsm.streams.add({ name: stream, subjects: [subject], retention: RetentionPolicy.Limits, storage: StorageType.File, num_replicas: 1, duplicate_window: 120e9 });

let seq = 0;
function eventLine() {
  const id = randomBytes(12).toString('hex');
  const s = ++seq;
  const e = {
    type: 'track', event: 'Order Completed', userId: `user-${s % 5000}`, messageId: id,
    timestamp: '2025-01-15T10:30:00.000Z', originalTimestamp: '2025-01-15T10:30:00.000Z', sentAt: '2025-01-15T10:30:00.000Z', receivedAt: '2025-01-15T10:30:00.120Z',
    properties: { orderId: `o-${s}`, total: 129.99, currency: 'EUR', coupon: 'WINTER', items: [{ sku: 'SKU-1', name: 'Blue shirt', price: 29.99, qty: 2 }, { sku: 'SKU-2', name: 'Socks', price: 7.5, qty: 1 }] },
    context: { library: { name: 'analytics-node', version: '3.1.0' }, page: { path: '/checkout/complete', url: 'https://shop.example.com/checkout/complete' } },
  };
  return { id, text: JSON.stringify({ p: 'bench', s, t: 1736937000000, y: 'track', n: e.event, u: e.userId, a: null, m: id, i: '203.0.113.9', e }) + '\n' };
}

// Messages are built before the clock starts (only publishing is timed); ids stay unique per publish,
// so JetStream's duplicate detection never drops one.
const events = Array.from({ length: 4000 }, () => Buffer.from(eventLine().text));
const requests = Array.from({ length: 40 }, (_, r) => Buffer.concat(events.slice(r * 100, r * 100 + 100)));
let n = 0;
const perEvent = () => ({ data: events[n % events.length], msgID: `bench:${++n}`, events: 1 });
const perRequest = () => ({ data: requests[n % requests.length], msgID: `req.${++n}`, events: 100 });

async function run(make, seconds) {
  let pubs = 0, events = 0, bytes = 0;
  const end = performance.now() + seconds * 1000;
  const lat = [];
  const worker = async () => {
    while (performance.now() < end) {
      const m = make();
      const t = performance.now();
      await js.publish(subject, m.data, { msgID: m.msgID, timeout: 10_000 });
      lat.push(performance.now() - t);
      pubs++;
      events += m.events;
      bytes += m.data.length;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const s = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  return { pubs: pubs / s, events: events / s, mb: bytes / s / 1e6, avgBytes: bytes / pubs, p50: lat[Math.floor(lat.length / 2)], p99: lat[Math.floor(lat.length * 0.99)] };
}

const modes = { 'message per event': perEvent, 'message per request (100 events)': perRequest };
const results = Object.fromEntries(Object.keys(modes).map((k) => [k, []]));
try {
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, make] of Object.entries(modes)) {
      await run(make, 1); // warm-up
      results[name].push(await run(make, SECONDS));
      await jsm.streams.purge(stream);
    }
  }
} finally {
  await jsm.streams.delete(stream).catch(() => undefined);
  await nc.close();
}

const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`NATS ${info.version ?? '?'} at ${URL}, R1 file storage, ${IN_FLIGHT} publishes in flight, ${ROUNDS} x ${SECONDS} s per mode (the better of 2 rounds; 1-min load average ${(await import('node:os')).loadavg()[0].toFixed(1)})`);
console.log('| mode | msg size | acked publishes/s | events/s | MB/s | p50 ms | p99 ms |');
console.log('|---|---:|---:|---:|---:|---:|---:|');
for (const [name, rs] of Object.entries(results)) {
  const m = (k) => median(rs.map((x) => x[k]));
  console.log(`| ${name} | ${Math.round(m('avgBytes'))} B | ${Math.round(m('pubs')).toLocaleString('en')} | ${Math.round(m('events')).toLocaleString('en')} | ${m('mb').toFixed(1)} | ${m('p50').toFixed(1)} | ${m('p99').toFixed(1)} |`);
}
