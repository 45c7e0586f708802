// Dead-letter listing and replay over a store and whatever replays (the embedded Processor or a
// BatchLoader): what the admin socket, bin/solute dead-letters (server stopped) and the console use.
import type { DeadLetter, DeadLetterFilter, EventStore, ReplayResult } from '../contracts/event-store.js';

export interface DeadLetterOps {
  deadLetters(filter: DeadLetterFilter): Promise<DeadLetter[]>;
  /** Replays the given dead letters, or all of them (of a project) when ids is absent. */
  replay(req: { ids?: number[]; project?: string }): Promise<ReplayResult>;
}

export function deadLetterOps(store: Pick<EventStore, 'deadLetters'>, replayer: { replay(d: readonly DeadLetter[]): Promise<ReplayResult> }): DeadLetterOps {
  return {
    deadLetters: (filter) => store.deadLetters(filter),
    async replay({ ids, project }): Promise<ReplayResult> {
      const total: ReplayResult = { stored: 0, failed: 0, missing: 0 };
      const add = (r: ReplayResult) => ((total.stored += r.stored), (total.failed += r.failed), (total.missing += r.missing));
      if (ids !== undefined) {
        for (let i = 0; i < ids.length; i += 1000) {
          const page = ids.slice(i, i + 1000);
          const found = await store.deadLetters({ ids: page, project, limit: page.length });
          add(await replayer.replay(found));
          total.missing += page.length - found.length;
        }
        return total;
      }
      let after = 0;
      for (;;) {
        const page = await store.deadLetters({ project, limit: 1000, afterId: after });
        if (page.length === 0) return total;
        add(await replayer.replay(page));
        after = page.at(-1)!.id;
      }
    },
  };
}
