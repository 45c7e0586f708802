// Keeps the event loop ahead of background work on a small machine. Every thread of the process
// except the main one (DuckDB's workers and the libuv pool threads that run its queries, V8's
// helpers) gets a higher nice value, so when a request and a segment load both want a core, the
// request's event loop gets it: on 2 cores the processor's threads otherwise take the core the event
// loop is waiting for. Linux only (a thread's nice value is its own there); elsewhere a no-op.
// New threads are picked up once a second.
import fs from 'node:fs';
import os from 'node:os';

/** Lowers every thread but the main one to `nice` (a higher value is a lower priority); 0 does nothing. Returns a stop function. */
export function lowerBackgroundThreads(nice: number): () => void {
  if (nice <= 0 || process.platform !== 'linux') return () => undefined;
  const apply = () => {
    let tids: string[];
    try {
      tids = fs.readdirSync('/proc/self/task');
    } catch {
      return;
    }
    for (const t of tids) {
      const tid = Number(t);
      if (tid === process.pid) continue; // the main thread: the event loop
      try {
        if (os.getPriority(tid) < nice) os.setPriority(tid, nice);
      } catch {
        // the thread ended meanwhile
      }
    }
  };
  apply();
  const timer = setInterval(apply, 1000);
  timer.unref();
  return () => clearInterval(timer);
}
