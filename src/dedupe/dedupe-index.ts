// Exact dedupe of (project, messageId) over a window of receivedAt days.
// Memory: a KeyTable (18 bytes a slot, load 0.375-0.75: 24-48 bytes a key, ~22-44M keys per GiB).
// Disk: dedupe/<day>.keys, 16 bytes a key, appended by the processor for each log segment before the
// segment is committed to the store; keys of segments not yet committed are recovered from the log
// itself at start (see SegmentLog.open), so this file is an index the log can always rebuild.
// dedupe/<day>.counts: how many of that day's keys each project holds (JSON), rewritten with each
// append, so the per-project bound survives a restart.
// Keys are SipHash-2-4-128 under dedupe/secret (16 random bytes, 0600). A directory of the earlier
// layout (MurmurHash3 under a 4-byte dedupe/seed) is rebuilt at start from the store's events.
import fs from 'node:fs/promises';
import path from 'node:path';
import crypto from 'node:crypto';
import { KeyTable } from './key-table.js';
import { messageKey, sipKey, type SipKey } from './message-key.js';
import { syncDir } from '../lib/durable-fs.js';
import type { ClaimResult, Dedupe } from '../contracts/dedupe.js';

const DAY_MS = 86_400_000;
const KEY_BYTES = 16;
const SECRET_FILE = 'secret';
/** Present while a rebuild runs: a start that finds it throws the partial key files away and rebuilds again. */
const REBUILD_MARK = 'rebuilding';

export function utcDay(ms: number): number {
  return Math.floor(ms / DAY_MS);
}

export interface DedupeOptions {
  windowDays: number;
  maxKeys: number;
  /** Most live keys one project may hold; past it that project's new events get 429, the others are unaffected. */
  maxKeysPerProject: number;
  now?: () => number;
}

/** The stored events whose keys a rebuild needs: pages of (project, messageId, receivedAt ms), received at or after `sinceMs`. */
export type KeySource = (sinceMs: number) => AsyncIterable<Array<{ project: string; messageId: string; receivedMs: number }>>;

export class DedupeIndex implements Dedupe {
  /** project → day → live keys of that day in the table. */
  private readonly counts = new Map<string, Map<number, number>>();
  /** day → project → keys in that day's file (what <day>.counts says). */
  private readonly persisted = new Map<number, Map<string, number>>();
  private liveMinDay = -1;
  private readonly liveCache = new Map<string, number>();

  private constructor(
    private readonly dir: string,
    private readonly secret: SipKey,
    private readonly table: KeyTable,
    private readonly opts: Required<DedupeOptions>,
  ) {}

  /**
   * Opens the index; `rebuildFrom` is read when the directory holds keys of the earlier layout (or a
   * rebuild that a crash interrupted). `onRebuild` is told how many keys were rebuilt.
   */
  static async open(dir: string, options: DedupeOptions, rebuildFrom?: KeySource, onRebuild?: (keys: number) => void): Promise<DedupeIndex> {
    const opts = { now: Date.now, ...options };
    await fs.mkdir(dir, { recursive: true });
    const names = await fs.readdir(dir);
    let rebuild = names.includes(REBUILD_MARK);
    let secret = await readSecret(path.join(dir, SECRET_FILE));
    if (secret === null) {
      // No secret: a new directory, or one of the MurmurHash3 layout whose keys mean nothing under SipHash.
      rebuild = names.includes('seed') || names.some((n) => n.endsWith('.keys'));
      if (rebuild) await writeDurably(path.join(dir, REBUILD_MARK), Buffer.alloc(0));
      secret = await createSecret(path.join(dir, SECRET_FILE));
    }
    if (rebuild) {
      for (const n of await fs.readdir(dir)) if (n === 'seed' || /^\d+\.(keys|counts)$/.test(n)) await fs.rm(path.join(dir, n), { force: true });
    }

    const files = await listDayFiles(dir);
    const minDay = utcDay(opts.now()) - opts.windowDays;
    let total = 0;
    for (const f of files) total += f.day >= minDay ? Math.floor(f.size / KEY_BYTES) : 0;
    const index = new DedupeIndex(dir, sipKey(secret), new KeyTable(Math.ceil(total / 0.5), opts.maxKeys), opts);
    for (const f of files) {
      if (f.day < minDay) {
        await fs.rm(f.file, { force: true });
        await fs.rm(countsFile(dir, f.day), { force: true });
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
      const counts = await readCounts(countsFile(dir, f.day));
      index.persisted.set(f.day, counts);
      for (const [project, c] of counts) index.count(project, f.day, c);
    }

    if (rebuild && rebuildFrom) {
      let keys = 0;
      for await (const page of rebuildFrom(minDay * DAY_MS)) {
        const out = new Uint32Array(page.length * 4);
        const days = new Uint16Array(page.length);
        const projects: string[] = [];
        let n = 0;
        for (const e of page) {
          index.key(e.project, e.messageId, out, n * 4);
          const day = utcDay(e.receivedMs);
          if (index.table.insert(out, n * 4, day, minDay) !== 'inserted') continue; // a repeat, or full: the store holds at most one of each
          index.count(e.project, day, 1);
          days[n] = day;
          projects.push(e.project);
          n++;
        }
        await index.persist(out, days, n, projects);
        keys += n;
      }
      onRebuild?.(keys);
    }
    await fs.rm(path.join(dir, REBUILD_MARK), { force: true });
    return index;
  }

  /** The oldest UTC day whose keys still count. */
  minDay(): number {
    return utcDay(this.opts.now()) - this.opts.windowDays;
  }

  /** Writes the key of (project, messageId) into out[off..off+3]. */
  key(project: string, messageId: string, out: Uint32Array, off: number): void {
    messageKey(this.secret, project, messageId, out, off);
  }

  /**
   * Claims a key computed by key(): 'inserted' when new, 'present' when already known, 'full' when
   * the whole index is at capacity, 'project-full' when this project holds its bound of keys.
   */
  claim(keys: Uint32Array, off: number, day: number, project: string): ClaimResult {
    const minDay = this.minDay();
    if (this.liveKeys(project, minDay) >= this.opts.maxKeysPerProject) {
      return this.table.has(keys, off, minDay) ? 'present' : 'project-full';
    }
    const r = this.table.insert(keys, off, day, minDay);
    if (r === 'inserted') this.count(project, day, 1);
    return r;
  }

  /** Claims a key of an event the log already holds (recovery at start): no per-project bound applies. */
  restore(keys: Uint32Array, off: number, day: number, project: string): ClaimResult {
    const r = this.table.insert(keys, off, day, this.minDay());
    if (r === 'inserted') this.count(project, day, 1);
    return r;
  }

  /** Gives back keys whose write failed, so a retry of the same events is accepted. */
  release(keys: Uint32Array, days: Uint16Array, count: number, project: string): void {
    const minDay = this.minDay();
    for (let i = 0; i < count; i++) {
      if (this.table.remove(keys, i * 4, minDay)) this.count(project, days[i], -1);
    }
  }

  /** Live keys held by a project (cached; recounted when the window moves on). */
  liveKeys(project: string, minDay = this.minDay()): number {
    if (minDay !== this.liveMinDay) {
      this.liveCache.clear();
      this.liveMinDay = minDay;
      for (const byDay of this.counts.values()) for (const day of byDay.keys()) if (day < minDay) byDay.delete(day);
    }
    let live = this.liveCache.get(project);
    if (live === undefined) {
      live = 0;
      for (const [day, n] of this.counts.get(project) ?? []) if (day >= minDay) live += n;
      this.liveCache.set(project, live);
    }
    return live;
  }

  private count(project: string, day: number, delta: number): void {
    let byDay = this.counts.get(project);
    if (!byDay) this.counts.set(project, (byDay = new Map()));
    byDay.set(day, (byDay.get(day) ?? 0) + delta);
    const live = this.liveCache.get(project);
    if (live !== undefined && day >= this.liveMinDay) this.liveCache.set(project, live + delta);
  }

  /**
   * Appends keys to their day files and syncs them, and each touched day's per-project counts;
   * called before a segment is committed to the store. `projects[i]` is key i's project.
   */
  async persist(keys: Uint32Array, days: Uint16Array, count: number, projects: readonly string[]): Promise<void> {
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
      const fh = await fs.open(file, 'a', 0o600);
      try {
        await fh.write(new Uint8Array(out.buffer));
        await fh.datasync();
      } finally {
        await fh.close();
      }
      let counts = this.persisted.get(day);
      if (!counts) this.persisted.set(day, (counts = new Map()));
      for (const i of idx) counts.set(projects[i], (counts.get(projects[i]) ?? 0) + 1);
      // Counts follow the keys: after a crash between the two, a project's bound counts a few keys
      // fewer than it holds until they expire (a bound, not exactness: dedupe itself stays exact).
      await writeDurably(countsFile(this.dir, day), Buffer.from(JSON.stringify(Object.fromEntries(counts))), false);
      if (created) await syncDir(this.dir);
    }
  }

  /** Deletes day files that fell out of the window. */
  async expire(): Promise<void> {
    const minDay = this.minDay();
    for (const f of await listDayFiles(this.dir)) {
      if (f.day >= minDay) continue;
      await fs.rm(f.file, { force: true });
      await fs.rm(countsFile(this.dir, f.day), { force: true });
      this.persisted.delete(f.day);
    }
  }

  stats(): { slots: number; occupied: number; bytes: number } {
    return { slots: this.table.slots, occupied: this.table.occupied, bytes: this.table.bytes };
  }
}

function countsFile(dir: string, day: number): string {
  return path.join(dir, `${day}.counts`);
}

async function readCounts(file: string): Promise<Map<string, number>> {
  try {
    const parsed = JSON.parse(await fs.readFile(file, 'utf8')) as Record<string, unknown>;
    return new Map(Object.entries(parsed).filter((e): e is [string, number] => Number.isSafeInteger(e[1])));
  } catch {
    return new Map(); // absent (keys written by an earlier version) or torn: counted as none
  }
}

async function readSecret(file: string): Promise<Buffer | null> {
  try {
    const buf = await fs.readFile(file);
    if (buf.length === 16) return buf;
    throw new Error(`dedupe secret ${file} is damaged (${buf.length} bytes, expected 16); move the dedupe directory away to rebuild it`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

async function createSecret(file: string): Promise<Buffer> {
  const buf = crypto.randomBytes(16);
  await writeDurably(file, buf);
  return buf;
}

/** Writes a file whole (a temporary file renamed over it), 0600, synced; `dirSync` syncs the directory entry too. */
async function writeDurably(file: string, data: Buffer, dirSync = true): Promise<void> {
  const tmp = `${file}.tmp`;
  const fh = await fs.open(tmp, 'w', 0o600);
  try {
    await fh.write(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.rename(tmp, file);
  if (dirSync) await syncDir(path.dirname(file));
}

async function listDayFiles(dir: string): Promise<Array<{ file: string; day: number; size: number }>> {
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
