// The shutdown deadline both composition roots (main.ts, main-cluster.ts) keep.

/** True when `work` settles before `deadlineMs` (epoch ms); false once the deadline passes first. The timer does not hold the process. */
export function settlesBefore(work: Promise<unknown>, deadlineMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((r) => {
    timer = setTimeout(() => r(false), Math.max(0, deadlineMs - Date.now()));
    timer.unref();
  });
  return Promise.race([work.then(() => true), late]).finally(() => clearTimeout(timer));
}
