// The rule for tests that need the shared NATS server (127.0.0.1:4222, or SOLUTE_TEST_NATS): when it
// cannot be reached with JetStream on, the tests are skipped with a message, except under SOLUTE_CI,
// where that is a failure (CI must not pass by skipping the JetStream log).
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';

export const NATS_URL = process.env.SOLUTE_TEST_NATS ?? 'nats://127.0.0.1:4222';

/** True when NATS with JetStream answers; false (with a message) when not; throws under SOLUTE_CI. */
export async function natsAvailable(url = NATS_URL): Promise<boolean> {
  let problem: string | null = null;
  try {
    const nc = await connect({ servers: url, timeout: 2000, maxReconnectAttempts: 0, name: 'solute-test-probe' });
    try {
      await (await jetstreamManager(nc, { timeout: 2000 })).getAccountInfo();
    } catch (err) {
      problem = `NATS at ${url} answers but JetStream does not (${(err as Error).message}); start nats-server with -js`;
    } finally {
      await nc.close();
    }
  } catch (err) {
    problem = `NATS is not reachable at ${url} (${(err as Error).message})`;
  }
  if (problem === null) return true;
  if (process.env.SOLUTE_CI) throw new Error(`${problem}. SOLUTE_CI is set, so the JetStream tests fail instead of being skipped.`);
  console.warn(`${problem}: skipping the JetStream tests (set SOLUTE_CI to make this a failure).`);
  return false;
}
