// Best-effort dedupe for an ingest process of a cluster: the keys this process has seen lately, in
// memory only. Exactness is the store's (a unique (project, message_id)); this only spares the log
// and the store the retries that come back to the same process, and gives the answer's `duplicates`.
// Two generations of at most `generationKeys` each: when the current one is full it becomes the
// old one and the old one is dropped, so memory stays bounded and a claim is never refused.
import { randomBytes } from 'node:crypto';
import type { ClaimResult, Dedupe } from '../contracts/dedupe.js';
import { KeyTable } from './key-table.js';
import { messageKey, sipKey } from './message-key.js';

/** KeyTable needs a day on every key; recent keys never expire by day, so all share this one. */
const DAY = 2;

export class RecentKeys implements Dedupe {
  /** A fresh secret per process: these keys never leave it. */
  private readonly secret = sipKey(randomBytes(16));
  private current: KeyTable;
  private old: KeyTable | null = null;

  constructor(private readonly generationKeys: number) {
    this.current = new KeyTable(1024, generationKeys);
  }

  key(project: string, messageId: string, out: Uint32Array, off: number): void {
    messageKey(this.secret, project, messageId, out, off);
  }

  claim(keys: Uint32Array, off: number, _day: number, _project: string): ClaimResult {
    if (this.old?.has(keys, off, DAY)) return 'present';
    let r = this.current.insert(keys, off, DAY, DAY);
    if (r === 'full') {
      this.old = this.current;
      this.current = new KeyTable(1024, this.generationKeys);
      r = this.current.insert(keys, off, DAY, DAY);
    }
    return r;
  }

  release(keys: Uint32Array, _days: Uint16Array, count: number, _project: string): void {
    for (let i = 0; i < count; i++) {
      this.current.remove(keys, i * 4, DAY);
      this.old?.remove(keys, i * 4, DAY);
    }
  }

  stats(): { occupied: number; bytes: number } {
    return { occupied: this.current.occupied + (this.old?.occupied ?? 0), bytes: this.current.bytes + (this.old?.bytes ?? 0) };
  }
}
