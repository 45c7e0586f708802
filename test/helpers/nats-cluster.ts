// A throwaway JetStream cluster for tests (or, with n = 1, a lone server): N /usr/sbin/nats-server processes on free loopback ports,
// each with its own store directory under one temp dir, routed to each other. kill() and restart()
// one node (same ports, same store), stop() everything and remove the directory.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const NATS_SERVER = process.env.SOLUTE_NATS_SERVER ?? '/usr/sbin/nats-server';

interface Node {
  name: string;
  clientPort: number;
  clusterPort: number;
  httpPort: number;
  storeDir: string;
  proc: ChildProcess | null;
}

export interface NatsCluster {
  /** nats://127.0.0.1:<port> of every node, in order. */
  urls: string[];
  names: string[];
  dir: string;
  kill(i: number, signal?: NodeJS.Signals): Promise<void>;
  restart(i: number): Promise<void>;
  /** Resolves once JetStream has a meta leader, seen from every running node. */
  waitForMetaLeader(timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export async function startNatsCluster(n = 3): Promise<NatsCluster> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'solute-nats-cluster-'));
  const nodes: Node[] = [];
  for (let i = 0; i < n; i++) {
    nodes.push({ name: `n${i}`, clientPort: await freePort(), clusterPort: await freePort(), httpPort: await freePort(), storeDir: path.join(dir, `n${i}`), proc: null });
  }
  const routes = nodes.map((x) => `nats://127.0.0.1:${x.clusterPort}`).join(',');

  const launch = async (node: Node) => {
    await fs.mkdir(node.storeDir, { recursive: true });
    const proc = spawn(
      NATS_SERVER,
      [
        '-a', '127.0.0.1', '-p', String(node.clientPort), '-m', String(node.httpPort),
        '-js', '--store_dir', node.storeDir, '--server_name', node.name,
        // n = 1: a lone server (no cluster), for R1.
        ...(n > 1 ? ['--cluster_name', 'solute-test', '--cluster', `nats://127.0.0.1:${node.clusterPort}`, '--routes', routes] : []),
        '-l', path.join(dir, `${node.name}.log`),
      ],
      { stdio: 'ignore' },
    );
    node.proc = proc;
    // /varz answers once the server listens; /healthz also waits for JetStream, which in a forming
    // cluster (and on a loaded machine, with other clusters starting beside) can take longer than 10 s.
    await waitFor(async () => (await fetch(`http://127.0.0.1:${node.httpPort}/varz`)).ok, 30_000, `${node.name} did not start (see ${dir}/${node.name}.log)`);
  };

  const metaLeader = async (node: Node): Promise<string | null> => {
    const res = await fetch(`http://127.0.0.1:${node.httpPort}/jsz`);
    const jsz = (await res.json()) as { meta_cluster?: { leader?: string } };
    return jsz.meta_cluster?.leader || null;
  };

  const cluster: NatsCluster = {
    urls: nodes.map((x) => `nats://127.0.0.1:${x.clientPort}`),
    names: nodes.map((x) => x.name),
    dir,
    async kill(i, signal = 'SIGKILL') {
      const proc = nodes[i].proc;
      nodes[i].proc = null;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill(signal);
      await exited;
    },
    async restart(i) {
      await cluster.kill(i, 'SIGTERM');
      await launch(nodes[i]);
    },
    async waitForMetaLeader(timeoutMs = 40_000) {
      let leader = '';
      await waitFor(
        async () => {
          if (n === 1) return true;
      const seen = await Promise.all(nodes.filter((x) => x.proc).map(metaLeader));
          if (seen.length === 0 || seen.some((l) => l === null || l !== seen[0])) return false;
          leader = seen[0]!;
          return true;
        },
        timeoutMs,
        'no JetStream meta leader',
      );
      return leader;
    },
    async stop() {
      await Promise.all(nodes.map((_, i) => cluster.kill(i, 'SIGKILL')));
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
  try {
    await Promise.all(nodes.map(launch));
    await cluster.waitForMetaLeader();
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
