// Reads everything durable in a JetStream log back through the processors' own path (NatsSource):
// every message once (a redelivery of a sequence already seen is counted once, as the store does).
import type { NatsConnection } from '@nats-io/transport-node';
import { NatsSource } from '../../src/log/nats.source.js';

const quiet = { warn: () => undefined, error: () => undefined };

/** Drains the stream's consumer until nothing is pending; returns the messages by stream sequence. */
export async function drainStream(nc: NatsConnection, stream: string, timeoutMs = 20_000): Promise<Map<number, string>> {
  const deadline = Date.now() + timeoutMs;
  // Right after a node of a cluster restarts, JetStream may not answer yet (no meta leader): the
  // request times out. Keep asking until the deadline, as a processor starting then would.
  let source: NatsSource;
  for (;;) {
    try {
      source = await NatsSource.open(nc, { stream, logger: quiet, ackWaitMs: 5000 });
      break;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  const seen = new Map<number, string>();
  let busy = 0;
  source.start(async (b) => {
    busy++;
    if (!seen.has(b.id)) seen.set(b.id, b.text);
    busy--;
  });
  try {
    for (;;) {
      await new Promise((r) => setTimeout(r, 100));
      if (busy === 0 && (await source.refreshBacklog()) === 0) break;
      if (Date.now() > deadline) throw new Error(`stream ${stream} not drained in ${timeoutMs} ms (backlog ${source.backlog()})`);
    }
  } finally {
    await source.stop();
  }
  return seen;
}

/** The NDJSON lines of the messages, in stream order. */
export function linesOf(messages: Map<number, string>): string[] {
  return [...messages.entries()]
    .sort((a, b) => a[0] - b[0])
    .flatMap(([, text]) => text.split('\n').filter((l) => l.length > 0));
}
