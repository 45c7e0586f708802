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

export async function runChaos(opts: ChaosOptions): Promise<ChaosReport> {
  const log = opts.log ?? (() => undefined);
  const dataDir = tempDir('solute-chaos-');
  const writeKey = cli(dataDir, 'keys', 'create', '--project', 'chaos');
  const secretKey = cli(dataDir, 'keys', 'create', '--project', 'chaos', '--secret');
  const port = await freePort();
  const env = { SOLUTE_SEGMENT_MAX_AGE_MS: '200' };
  let server: ChildServer | null = await spawnServer(dataDir, env, port);
  const url = server.url;

  const sent = new Map<string, number>(); // messageId -> the unique value it carries
  const acked = new Set<string>();
  const unknown = new Set<string>();
  let kills = 0;
  let n = 0;
  const end = Date.now() + opts.seconds * 1000;

  const client = async (c: number) => {
    while (Date.now() < end) {
      const batch = Array.from({ length: opts.batchSize ?? 20 }, () => {
        const value = n++;
        const e = makeEvent({ messageId: `chaos-${c}-${value}`, properties: { value } });
        sent.set(e.messageId as string, value);
        return e;
      });
      let delay = 50;
      for (;;) {
        try {
          const r = await fetch(`${url}/api/events`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-api-key': writeKey },
            body: JSON.stringify({ batch, sentAt: new Date().toISOString() }),
            signal: AbortSignal.timeout(5000),
          });
          const body = (await r.json()) as { processed?: number };
          if (r.status === 200 && body.processed === batch.length) {
            for (const e of batch) acked.add(e.messageId as string);
            break;
          }
          if (r.status < 500 && r.status !== 429) throw new Error(`client error ${r.status}: ${JSON.stringify(body)}`);
        } catch (err) {
          if ((err as Error).message.startsWith('client error')) throw err;
          // connection refused or reset, timeout: the outcome is unknown, so retry the same batch
        }
        if (Date.now() > end + 30_000) {
          for (const e of batch) unknown.add(e.messageId as string);
          break;
        }
        await sleep(delay);
        delay = Math.min(2000, delay * 2);
      }
    }
  };

  const killer = async () => {
    while (Date.now() < end) {
      const [min, max] = opts.killEveryMs;
      await sleep(min + Math.random() * (max - min));
      if (Date.now() >= end || !server) break;
      server.proc.kill('SIGKILL');
      await server.exited;
      kills++;
      log(`kill ${kills} at ${acked.size} acknowledged`);
      server = await spawnServer(dataDir, env, port);
    }
  };

  await Promise.all([killer(), ...Array.from({ length: opts.clients ?? 4 }, (_, c) => client(c))]);
  await waitForDrain(url, 120_000);
  const stored = await readAllEvents(url, secretKey);
  server?.proc.kill('SIGTERM');
  await server?.exited;

  const counts = new Map<string, number>();
  let mismatched = 0;
  for (const e of stored) {
    const id = e.messageId as string;
    counts.set(id, (counts.get(id) ?? 0) + 1);
    if (sent.has(id) && (e.properties as { value: number }).value !== sent.get(id)) mismatched++;
  }
  return {
    sent: sent.size,
    acknowledged: acked.size,
    stored: stored.length,
    kills,
    lost: [...acked].filter((id) => !counts.has(id)).length,
    duplicates: [...counts.values()].filter((c) => c > 1).length,
    phantoms: [...counts.keys()].filter((id) => !sent.has(id)).length,
    unknown: unknown.size,
    mismatched,
  };
}
