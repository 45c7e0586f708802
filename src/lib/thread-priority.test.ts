// lowerBackgroundThreads, in a child process of its own (it would change this process's threads):
// every thread but the main one ends at the nice value asked, the main thread keeps its own, and a
// thread started afterwards is picked up.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { expect, it } from 'vitest';

// The built module (npm test builds first): the child is plain Node.
const MODULE = path.resolve(import.meta.dirname, '..', '..', 'dist', 'lib', 'thread-priority.js');

it.runIf(process.platform === 'linux')('lowers every thread but the event loop, also threads started later', () => {
  const script = `
    import fs from 'node:fs';
    import { Worker } from 'node:worker_threads';
    const { lowerBackgroundThreads } = await import(${JSON.stringify(MODULE)});
    const nice = () => Object.fromEntries(fs.readdirSync('/proc/self/task').map((t) => {
      const stat = fs.readFileSync('/proc/self/task/' + t + '/stat', 'utf8');
      return [t, Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16])];
    }));
    const before = Object.keys(nice()).length;
    lowerBackgroundThreads(10);
    const w = new Worker('setInterval(() => {}, 1000)', { eval: true });
    await new Promise((r) => w.once('online', r));
    await new Promise((r) => setTimeout(r, 1300)); // the next pass picks the worker's threads up
    const after = nice();
    await w.terminate();
    process.stdout.write(JSON.stringify({ pid: process.pid, before, after }));
  `;
  const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as { pid: number; before: number; after: Record<string, number> };
  const tids = Object.keys(out.after);
  expect(tids.length).toBeGreaterThan(out.before); // the worker's threads are among them
  expect(out.after[String(out.pid)]).toBe(0);
  for (const t of tids) if (t !== String(out.pid)) expect(out.after[t], `thread ${t}`).toBe(10);
});
