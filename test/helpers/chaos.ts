// The chaos check: SDK-like clients (retries with backoff, the same messageId on every retry, a unique
// value per event) against a server that is SIGKILLed at random moments and restarted. Afterwards
// everything is read back and compared with what was sent and acknowledged.
import { cli, freePort, makeEvent, readAllEvents, sleep, spawnServer, tempDir, waitForDrain, type ChildServer } from './solute.js';

export interface ChaosOptions {
  seconds: number;
  /** A kill comes every min..max ms. */
  killEveryMs: [number, number];
  clients?: number;
  batchSize?: number;
  log?: (line: string) => void;
}

export interface ChaosReport {
  sent: number;
  acknowledged: number;
  stored: number;
  kills: number;
  /** Acknowledged but not stored. */
  lost: number;
  /** Stored more than once. */
  duplicates: number;
  /** Stored but never sent. */
  phantoms: number;
  /** Sent, never acknowledged (the client gave up at the end); stored or not, both are allowed. */
  unknown: number;
  /** Stored with another event's payload. */
  mismatched: number;
}

/** What the SDK-like clients sent and what came of it, shared by the embedded and the cluster checks. */
export interface ClientLedger {
  /** messageId -> the unique value it carries */
  sent: Map<string, number>;
  acked: Set<string>;
  /** Sent, never acknowledged (the client gave up at the end). */
  unknown: Set<string>;
}

export interface SdkClientOptions {
  /** Each attempt goes to the next of these (one: always the same server). */
  urls: () => string[];
  writeKey: string;
  /** Clients stop starting batches at this time, and give up on one 30 s later. */
  end: number;
  batchSize?: number;
  /** Pause after each acknowledged batch. */
  paceMs?: number;
  /** messageIds are `<prefix>-<client>-<value>`. */
  prefix: string;
}

/**
 * Client `c` of the check, like an SDK: a batch of events each with a unique value, retried with
 * backoff and the same messageIds until acknowledged; a 4xx it does not retry fails the check.
 */
export function sdkClient(o: SdkClientOptions, ledger: ClientLedger, counter: { n: number }) {
  return async (c: number): Promise<void> => {
    let turn = c;
    while (Date.now() < o.end) {
      const batch = Array.from({ length: o.batchSize ?? 20 }, () => {
        const value = counter.n++;
        const e = makeEvent({ messageId: `${o.prefix}-${c}-${value}`, properties: { value } });
        ledger.sent.set(e.messageId as string, value);
        return e;
      });
      let delay = 50;
      for (;;) {
        const urls = o.urls();
        const url = urls[turn++ % urls.length];
        try {
          const r = await fetch(`${url}/api/events`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-api-key': o.writeKey },
            body: JSON.stringify({ batch, sentAt: new Date().toISOString() }),
            signal: AbortSignal.timeout(5000),
          });
          const body = (await r.json()) as { processed?: number };
          if (r.status === 200 && body.processed === batch.length) {
            for (const e of batch) ledger.acked.add(e.messageId as string);
            if (o.paceMs) await sleep(o.paceMs);
            break;
          }
          if (r.status < 500 && r.status !== 429) throw new Error(`client error ${r.status}: ${JSON.stringify(body)}`);
        } catch (err) {
          if ((err as Error).message.startsWith('client error')) throw err;
          // connection refused or reset, timeout: the outcome is unknown, so retry the same batch
        }
        if (Date.now() > o.end + 30_000) {
          for (const e of batch) ledger.unknown.add(e.messageId as string);
          break;
        }
        await sleep(delay);
        delay = Math.min(2000, delay * 2);
      }
    }
  };
}

/** Compares what was stored (messageId and the value its event carries) with the ledger. */
export function tally(ledger: ClientLedger, stored: Array<{ messageId: string; value: unknown }>, kills: number): ChaosReport {
  const counts = new Map<string, number>();
  let mismatched = 0;
  for (const e of stored) {
    counts.set(e.messageId, (counts.get(e.messageId) ?? 0) + 1);
    if (ledger.sent.has(e.messageId) && Number(e.value) !== ledger.sent.get(e.messageId)) mismatched++;
  }
  return {
    sent: ledger.sent.size,
    acknowledged: ledger.acked.size,
    stored: stored.length,
    kills,
    lost: [...ledger.acked].filter((id) => !counts.has(id)).length,
    duplicates: [...counts.values()].filter((c) => c > 1).length,
    phantoms: [...counts.keys()].filter((id) => !ledger.sent.has(id)).length,
    unknown: ledger.unknown.size,
    mismatched,
  };
}

export async function runChaos(opts: ChaosOptions): Promise<ChaosReport> {
  const log = opts.log ?? (() => undefined);
  const dataDir = tempDir('solute-chaos-');
  const writeKey = cli(dataDir, 'keys', 'create', '--project', 'chaos');
  const secretKey = cli(dataDir, 'keys', 'create', '--project', 'chaos', '--secret');
  const port = await freePort();
  const env = { SOLUTE_SEGMENT_MAX_AGE_MS: '200' };
  let server: ChildServer | null = await spawnServer(dataDir, env, port);
  const url = server.url;

  const ledger: ClientLedger = { sent: new Map(), acked: new Set(), unknown: new Set() };
  let kills = 0;
  const end = Date.now() + opts.seconds * 1000;
  const client = sdkClient({ urls: () => [url], writeKey, end, batchSize: opts.batchSize, prefix: 'chaos' }, ledger, { n: 0 });

  const killer = async () => {
    while (Date.now() < end) {
      const [min, max] = opts.killEveryMs;
      await sleep(min + Math.random() * (max - min));
      if (Date.now() >= end || !server) break;
      server.proc.kill('SIGKILL');
      await server.exited;
      kills++;
      log(`kill ${kills} at ${ledger.acked.size} acknowledged`);
      server = await spawnServer(dataDir, env, port);
    }
  };

  await Promise.all([killer(), ...Array.from({ length: opts.clients ?? 4 }, (_, c) => client(c))]);
  await waitForDrain(url, 120_000);
  const stored = await readAllEvents(url, secretKey);
  server?.proc.kill('SIGTERM');
  await server?.exited;

  return tally(
    ledger,
    stored.map((e) => ({ messageId: e.messageId as string, value: (e.properties as { value: unknown }).value })),
    kills,
  );
}
