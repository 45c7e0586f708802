// The dedupe key's cost per event on the ack path (src/dedupe/message-key.ts): SipHash-2-4-128 in
// JavaScript beside the alternatives it was chosen over, in the same run, interleaved rounds:
//   - HMAC-SHA-256 and SHA-256 of a secret prefix through Node's crypto (one call per key);
//   - the JSON.stringify of a typical ~900-byte event, which the ack path does once per event anyway (for scale).
// `npm run build && node bench/message-key.mjs` (about 5 s; KEY_ROUNDS rounds, default 7). Prints medians in ns per key.
import crypto from 'node:crypto';
import { messageKey, sipKey } from '../dist/dedupe/message-key.js';

const ROUNDS = Number(process.env.KEY_ROUNDS ?? 7);
const N = 100_000;
const ids = Array.from({ length: N }, () => `msg_${crypto.randomUUID()}`);
const project = 'proj_demo';
const secret = crypto.randomBytes(16);
const key = sipKey(secret);
const out = new Uint32Array(4);
const event = {
  type: 'track', event: 'Button Clicked', userId: 'user_123', anonymousId: 'anon_456', messageId: ids[0],
  timestamp: new Date().toISOString(), properties: { button_id: 'cta-signup', page: '/homepage', plan: 'pro', value: 42 },
  context: {
    library: { name: '@solute-ai/sdk', version: '0.1.2' }, locale: 'en-US', timezone: 'Europe/Berlin',
    page: { path: '/pricing', url: 'https://example.com/pricing?utm_source=x', title: 'Pricing', referrer: 'https://google.com/' },
    userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
    screen: { width: 1512, height: 982, density: 2 }, sessionId: 'session_abc',
  },
};

const cases = {
  'SipHash-2-4-128 (ours)': (id) => messageKey(key, project, id, out, 0),
  'HMAC-SHA-256 (node:crypto)': (id) => crypto.createHmac('sha256', secret).update(project + '\0' + id).digest(),
  'SHA-256 of secret||key (crypto.hash)': (id) => crypto.hash('sha256', secret.toString('latin1') + project + '\0' + id, 'buffer'),
  'JSON.stringify of one event (scale)': (id) => { event.messageId = id; return JSON.stringify(event); },
};
const results = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, f] of Object.entries(cases)) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < N; i++) f(ids[i]);
    results[name].push(Number(process.hrtime.bigint() - t) / N);
  }
}
const median = (a) => a.slice().sort((x, y) => x - y)[Math.floor(a.length / 2)];
const sip = median(results['SipHash-2-4-128 (ours)']);
console.log(`ns per key, median of ${ROUNDS} rounds of ${N}:`);
for (const [name, xs] of Object.entries(results)) console.log(`  ${name.padEnd(40)} ${median(xs).toFixed(0).padStart(6)}  (${(median(xs) / sip).toFixed(2)}x ours)`);
