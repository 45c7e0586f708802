// Exact dedupe of (project, messageId) over a window of receivedAt days.
// Memory: a KeyTable (18 bytes a slot, load 0.375-0.75: 24-48 bytes a key, ~22-44M keys per GiB).
// Disk: dedupe/<day>.keys, 16 bytes a key, appended by the processor for each log segment before the
// segment is committed to the store; keys of segments not yet committed are recovered from the log
// itself at start (see SegmentLog.open), so this file is an index the log can always rebuild.
import fs from 'node:fs/promises';
import path from 'node:path';
import crypto from 'node:crypto';
import { KeyTable, type InsertResult } from './key-table.js';
import { messageKey } from './message-key.js';
import { syncDir } from '../lib/durable-fs.js';

const DAY_MS = 86_400_000;
const KEY_BYTES = 16;

export function utcDay(ms: number): number {
  return Math.floor(ms / DAY_MS);
}

export interface DedupeOptions {
  windowDays: number;
  maxKeys: number;
  now?: () => number;
}

export class DedupeIndex {
  private constructor(
    private readonly dir: string,
    private readonly seed: number,
    private readonly table: KeyTable,
    private readonly opts: Required<DedupeOptions>,
  ) {}

  static async open(dir: string, options: DedupeOptions): Promise<DedupeIndex> {
    const opts = { now: Date.now, ...options };
    await fs.mkdir(dir, { recursive: true });
    const seed = await readOrCreateSeed(path.join(dir, 'seed'));
    const files = await listKeyFiles(dir);
    const minDay = utcDay(opts.now()) - opts.windowDays;
    let total = 0;
    for (const f of files) total += f.day >= minDay ? Math.floor(f.size / KEY_BYTES) : 0;
    const index = new DedupeIndex(dir, seed, new KeyTable(Math.ceil(total / 0.5), opts.maxKeys), opts);
    for (const f of files) {
      if (f.day < minDay) {
        await fs.rm(f.file, { force: true });
        continue;
      }
      const buf = await fs.readFile(f.file);
      const n = Math.floor(buf.length / KEY_BYTES); // a torn tail from a crash is ignored
      const words = new Uint32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + n * KEY_BYTES));
      for (let i = 0; i < n; i++) {
        if (index.table.insert(words, i * 4, f.day, minDay) === 'full') {
          throw new Error(`dedupe index: ${f.file} holds more keys than SOLUTE_DEDUPE_MAX_KEYS=${opts.maxKeys}`);
        }
      }
    }
    return index;
  }

  /** The oldest UTC day whose keys still count. */
  minDay(): number {
    return utcDay(this.opts.now()) - this.opts.windowDays;
  }

  /** Writes the key of (project, messageId) into out[off..off+3]. */
  key(project: string, messageId: string, out: Uint32Array, off: number): void {
    messageKey(this.seed, project, messageId, out, off);
  }

  /** Claims a key computed by key(): 'inserted' when new, 'present' when already known, 'full' at capacity. */
  claim(keys: Uint32Array, off: number, day: number): InsertResult {
    return this.table.insert(keys, off, day, this.minDay());
  }

  /** Gives back keys whose write failed, so a retry of the same events is accepted. */
  release(keys: Uint32Array, count: number): void {
    const minDay = this.minDay();
    for (let i = 0; i < count; i++) this.table.remove(keys, i * 4, minDay);
  }

  /** Appends keys to their day files and syncs them; called before a segment is committed to the store. */
  async persist(keys: Uint32Array, days: Uint16Array, count: number): Promise<void> {
    const byDay = new Map<number, number[]>();
    for (let i = 0; i < count; i++) {
      let list = byDay.get(days[i]);
      if (!list) byDay.set(days[i], (list = []));
      list.push(i);
    }
    for (const [day, idx] of byDay) {
      const out = new Uint32Array(idx.length * 4);
      idx.forEach((src, j) => out.set(keys.subarray(src * 4, src * 4 + 4), j * 4));
      const file = path.join(this.dir, `${day}.keys`);
      const created = !(await exists(file));
      const fh = await fs.open(file, 'a');
      try {
        await fh.write(new Uint8Array(out.buffer));
        await fh.datasync();
      } finally {
        await fh.close();
      }
      if (created) await syncDir(this.dir);
    }
  }

  /** Deletes day files that fell out of the window. */
  async expire(): Promise<void> {
    const minDay = this.minDay();
    for (const f of await listKeyFiles(this.dir)) if (f.day < minDay) await fs.rm(f.file, { force: true });
  }

  stats(): { slots: number; occupied: number; bytes: number } {
    return { slots: this.table.slots, occupied: this.table.occupied, bytes: this.table.bytes };
  }
}

async function readOrCreateSeed(file: string): Promise<number> {
  try {
    const buf = await fs.readFile(file);
    if (buf.length === 4) return buf.readUInt32LE(0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const buf = crypto.randomBytes(4);
  const tmp = `${file}.tmp`;
  const fh = await fs.open(tmp, 'w');
  await fh.write(buf);
  await fh.sync();
  await fh.close();
  await fs.rename(tmp, file);
  await syncDir(path.dirname(file));
  return buf.readUInt32LE(0);
}

async function listKeyFiles(dir: string): Promise<Array<{ file: string; day: number; size: number }>> {
  const out = [];
  for (const name of await fs.readdir(dir)) {
    const m = /^(\d+)\.keys$/.exec(name);
    if (!m) continue;
    const file = path.join(dir, name);
    out.push({ file, day: Number(m[1]), size: (await fs.stat(file)).size });
  }
  return out.sort((a, b) => a.day - b.day);
}

async function exists(file: string): Promise<boolean> {
  return fs.stat(file).then(
    () => true,
    () => false,
  );
}
