// The embedded durable log: where an accepted event becomes durable.
// Events are NDJSON lines appended to numbered segment files (log/<id>.ndjson). Appends from
// concurrent requests are group-committed: one write and one fdatasync for everything queued while
// the previous sync ran, and each append resolves only after the fdatasync that covers it.
// A segment is closed past a size or an age and handed to the processor, which deletes it once
// the store has committed it.
import fs from 'node:fs/promises';
import path from 'node:path';
import { syncDir } from '../lib/durable-fs.js';
import { readWholeFile } from '../lib/read-whole.js';
import type { AppendBatch, ClosedSegment, EventLog } from '../contracts/event-log.js';
import { readLineKeyAt } from '../contracts/log-line.js';

/** Text per write (UTF-16 units; at most 3 bytes each in UTF-8): a group of appends stops growing past it. */
const GROUP_MAX_CHARS = 8 * 1024 * 1024;

export class LogWriteError extends Error {
  constructor(cause: unknown) {
    super(`log write failed: ${(cause as Error)?.message ?? cause}`, { cause });
    this.name = 'LogWriteError';
  }
}

export interface SegmentLogOptions {
  segmentMaxBytes: number;
  segmentMaxAgeMs: number;
  /** Segment ids at or below this are taken (e.g. already loaded into the store). */
  minSegmentId: number;
  /** The next sequence number to hand out. */
  nextSeq: number;
  onSegmentClosed: (segment: ClosedSegment) => void;
}

interface Pending extends AppendBatch {
  resolve: () => void;
  reject: (err: Error) => void;
}

class OpenSegment {
  size = 0;
  /** Lines. */
  count = 0;
  /** Keys (at most one per line). */
  keyCount = 0;
  keys = new Uint32Array(4096 * 4);
  days = new Uint16Array(4096);
  projects: string[] = [];
  readonly eventsByProject = new Map<string, number>();
  readonly openedAt = Date.now();
  constructor(
    readonly id: number,
    readonly file: string,
    readonly fh: fs.FileHandle,
  ) {}

  add(b: AppendBatch): void {
    this.count += b.count;
    this.eventsByProject.set(b.project, (this.eventsByProject.get(b.project) ?? 0) + b.count);
    const n = b.days.length;
    const need = this.keyCount + n;
    if (need > this.days.length) {
      let cap = this.days.length;
      while (cap < need) cap *= 2;
      const k = new Uint32Array(cap * 4);
      k.set(this.keys.subarray(0, this.keyCount * 4));
      const d = new Uint16Array(cap);
      d.set(this.days.subarray(0, this.keyCount));
      this.keys = k;
      this.days = d;
    }
    this.keys.set(b.keys.subarray(0, n * 4), this.keyCount * 4);
    this.days.set(b.days.subarray(0, n), this.keyCount);
    for (let i = 0; i < n; i++) this.projects.push(b.project);
    this.keyCount = need;
  }
}

export function segmentFile(dir: string, id: number): string {
  return path.join(dir, `${String(id).padStart(12, '0')}.ndjson`);
}

/** Segment files present in dir, oldest first. */
export async function listSegments(dir: string): Promise<Array<{ id: number; file: string }>> {
  await fs.mkdir(dir, { recursive: true });
  const out = [];
  for (const name of await fs.readdir(dir)) {
    const m = /^(\d{12})\.ndjson$/.exec(name);
    if (m) out.push({ id: Number(m[1]), file: path.join(dir, name) });
  }
  return out.sort((a, b) => a.id - b.id);
}

/**
 * Cuts a torn last line (a write that a crash interrupted, never acknowledged) off a segment.
 * Returns the segment's content: complete lines, each ending in a newline.
 */
export async function repairSegment(file: string): Promise<Buffer> {
  const buf = await readWholeFile(file);
  const end = buf.lastIndexOf(0x0a) + 1;
  if (end < buf.length) {
    await fs.truncate(file, end);
    const fh = await fs.open(file, 'r+');
    await fh.datasync();
    await fh.close();
  }
  return buf.subarray(0, end);
}

export class SegmentLog implements EventLog {
  private queue: Pending[] = [];
  private flushing: Promise<void> | null = null;
  private current: OpenSegment | null = null;
  private nextId: number;
  private seq: number;
  private timer: NodeJS.Timeout | null = null;
  /** The next segment, created ahead of time. */
  private spare: Promise<OpenSegment> | null = null;
  private closed = false;
  /** False after a failed write until a later write succeeds. */
  private lastWriteOk = true;
  failures = 0;

  private constructor(
    private readonly dir: string,
    private readonly opts: SegmentLogOptions,
  ) {
    this.nextId = opts.minSegmentId + 1;
    this.seq = opts.nextSeq;
  }

  static async open(dir: string, opts: SegmentLogOptions): Promise<SegmentLog> {
    const existing = await listSegments(dir);
    const log = new SegmentLog(dir, {
      ...opts,
      minSegmentId: Math.max(opts.minSegmentId, existing.at(-1)?.id ?? 0),
    });
    await log.openNextSegment();
    log.timer = setInterval(() => log.tick(), Math.max(5, Math.floor(opts.segmentMaxAgeMs / 2)));
    log.timer.unref();
    return log;
  }

  /** Reserves `n` consecutive sequence numbers; call in the same tick as the append that uses them. */
  reserveSeq(n: number): number {
    const first = this.seq;
    this.seq += n;
    return first;
  }

  /** Resolves once every line of the batch is on disk (fdatasync'd); rejects with LogWriteError otherwise. */
  append(batch: AppendBatch): Promise<void> {
    if (this.closed) return Promise.reject(new LogWriteError('log is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ ...batch, resolve, reject });
      this.kick();
    });
  }

  /** Events written to the open segment (not yet handed to the processor). */
  get openCount(): number {
    return this.current?.count ?? 0;
  }

  /** Events of one project written to the open segment. */
  openCountOf(project: string): number {
    return this.current?.eventsByProject.get(project) ?? 0;
  }

  get writable(): boolean {
    return !this.closed && this.lastWriteOk && this.current !== null;
  }

  /** Flushes what is queued, closes the open segment (handing it over) and stops. Idempotent. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.closed = true;
    while (this.flushing) await this.flushing;
    const seg = this.current;
    this.current = null;
    if (seg) await this.finishSegment(seg);
    const spare = await this.spare?.catch(() => null);
    this.spare = null;
    if (spare) await this.finishSegment(spare); // empty: closed and removed
  }

  private tick(): void {
    if (!this.lastWriteOk && !this.flushing && !this.closed) {
      this.flushing = this.probe().finally(() => {
        this.flushing = null;
        if (this.queue.length > 0) this.kick();
      });
      return;
    }
    this.kick();
  }

  /** After a failed write: checks that the disk takes writes again (e.g. space was freed), without traffic. */
  private async probe(): Promise<void> {
    const file = path.join(this.dir, '.probe');
    try {
      const fh = await fs.open(file, 'w');
      try {
        await fh.write(Buffer.alloc(64 * 1024));
        await fh.datasync();
      } finally {
        await fh.close();
        await fs.rm(file, { force: true });
      }
      if (!this.current) await this.openNextSegment();
      this.lastWriteOk = true;
    } catch {
      // still failing; the next tick probes again
    }
  }

  private kick(): void {
    if (!this.flushing && (this.queue.length > 0 || this.rotationDue())) {
      // flushLoop settles every append it takes; should anything still throw, the appends still
      // queued fail (503 to their requests) rather than the rejection going unhandled and ending the process.
      this.flushing = this.flushLoop().catch((err: unknown) => {
        this.lastWriteOk = false;
        this.failAll(this.queue.splice(0), err);
      }).finally(() => {
        this.flushing = null;
        if (this.queue.length > 0) this.kick();
      });
    }
  }

  private rotationDue(): boolean {
    const seg = this.current;
    if (!seg || seg.count === 0 || this.closed) return false;
    return seg.size >= this.opts.segmentMaxBytes || Date.now() - seg.openedAt >= this.opts.segmentMaxAgeMs;
  }

  private async flushLoop(): Promise<void> {
    for (;;) {
      if (this.rotationDue()) {
        try {
          await this.rotate();
        } catch (err) {
          this.lastWriteOk = false;
          this.failAll(this.queue.splice(0), err);
          return;
        }
      }
      if (this.queue.length === 0) return;
      if (!this.current) {
        try {
          await this.openNextSegment();
        } catch (err) {
          this.lastWriteOk = false;
          this.failAll(this.queue.splice(0), err);
          return;
        }
      }
      await this.writeGroup(this.takeGroup());
    }
  }

  /**
   * The next group to write: queued appends up to GROUP_MAX_CHARS of text (at least one), so one
   * write's buffer stays far below V8's string and buffer limits however many requests are queued.
   */
  private takeGroup(): Pending[] {
    let chars = 0;
    let n = 0;
    while (n < this.queue.length && (n === 0 || chars + this.queue[n].text.length <= GROUP_MAX_CHARS)) chars += this.queue[n++].text.length;
    return this.queue.splice(0, n);
  }

  private async writeGroup(group: Pending[]): Promise<void> {
    const seg = this.current;
    if (!seg) {
      this.failAll(group, 'no open segment');
      return;
    }
    let buf: Buffer;
    try {
      buf = group.length === 1 ? Buffer.from(group[0].text, 'utf8') : Buffer.concat(group.map((g) => Buffer.from(g.text, 'utf8')));
    } catch (err) {
      this.failAll(group, err); // nothing reached the file
      return;
    }
    try {
      let off = 0;
      while (off < buf.length) {
        const { bytesWritten } = await seg.fh.write(buf, off, buf.length - off, seg.size + off);
        off += bytesWritten;
      }
      await seg.fh.datasync();
    } catch (err) {
      this.lastWriteOk = false;
      // Whatever part of the group reached the file was never acknowledged: cut it off so that a
      // retry of the same events does not find a half-written copy. A failed fsync is not success.
      await seg.fh.truncate(seg.size).catch(() => undefined);
      this.failAll(group, err);
      return;
    }
    seg.size += buf.length;
    for (const g of group) seg.add(g);
    this.lastWriteOk = true;
    for (const g of group) g.resolve();
  }

  private failAll(group: Pending[], cause: unknown): void {
    this.failures++;
    const err = new LogWriteError(cause);
    for (const g of group) g.reject(err);
  }

  private async rotate(): Promise<void> {
    const old = this.current;
    this.current = null;
    if (old) await this.finishSegment(old);
    await this.openNextSegment();
  }

  /**
   * Makes the next segment current. Its file was created, and its directory entry synced, ahead of
   * time (`spare`), so a rotation does not put an open and a directory fsync in the write path.
   */
  private async openNextSegment(): Promise<void> {
    const ready = this.spare ?? this.createSegment();
    this.spare = null;
    // On failure (e.g. disk full) the caller fails the waiting group; the next attempt creates anew.
    this.current = await ready;
    if (!this.closed) {
      const spare = this.createSegment();
      this.spare = spare;
      spare.catch(() => {
        if (this.spare === spare) this.spare = null; // created anew at the next rotation
      });
    }
  }

  private async createSegment(): Promise<OpenSegment> {
    const id = this.nextId++;
    const file = segmentFile(this.dir, id);
    const fh = await fs.open(file, 'wx');
    try {
      await syncDir(this.dir); // the file's directory entry must be durable before anything in it is acknowledged
    } catch (err) {
      await fh.close().catch(() => undefined);
      await fs.rm(file, { force: true }).catch(() => undefined);
      throw err;
    }
    return new OpenSegment(id, file, fh);
  }

  /**
   * Hands a segment to the processor before its file handle closes, in the same tick as it left
   * `current`: the backlog never loses sight of its events. Its content is complete and synced.
   */
  private async finishSegment(seg: OpenSegment): Promise<void> {
    if (seg.count > 0) {
      this.opts.onSegmentClosed({
        id: seg.id,
        file: seg.file,
        count: seg.count,
        keys: seg.keys.subarray(0, seg.keyCount * 4),
        days: seg.days.subarray(0, seg.keyCount),
        projects: seg.projects,
        eventsByProject: seg.eventsByProject,
      });
    }
    await seg.fh.close();
    if (seg.count === 0) await fs.rm(seg.file, { force: true });
  }

}

export interface RecoveredLog {
  /** Segments written but not committed to the store, oldest first, with their dedupe keys. */
  segments: ClosedSegment[];
  /** Highest sequence number found in them (0 when none). */
  maxSeq: number;
}

/**
 * At start: deletes segments the store already committed, repairs a torn tail, and reads the rest
 * back so the processor can load them and the dedupe index can learn their keys.
 */
export async function recoverSegments(
  dir: string,
  committedUpTo: number,
  keyOf: (project: string, messageId: string, out: Uint32Array, off: number) => void,
): Promise<RecoveredLog> {
  const segments: ClosedSegment[] = [];
  let maxSeq = 0;
  for (const { id, file } of await listSegments(dir)) {
    if (id <= committedUpTo) {
      await fs.rm(file, { force: true });
      continue;
    }
    const content = await repairSegment(file);
    let count = 0;
    for (let at = content.indexOf(0x0a); at >= 0; at = content.indexOf(0x0a, at + 1)) count++;
    if (count === 0) {
      await fs.rm(file, { force: true });
      continue;
    }
    const keys = new Uint32Array(count * 4);
    const days = new Uint16Array(count);
    const projects: string[] = [];
    const eventsByProject = new Map<string, number>();
    let n = 0;
    for (let start = 0, end = content.indexOf(0x0a); end >= 0; start = end + 1, end = content.indexOf(0x0a, start)) {
      // A line that does not parse (a damaged file) has no key to learn; the processor sends it
      // to the dead-letter table with its reason. Only the line's head is decoded.
      const line = readLineKeyAt(content, start, end);
      if (!line) continue;
      eventsByProject.set(line.p, (eventsByProject.get(line.p) ?? 0) + 1);
      if (line.s > maxSeq) maxSeq = line.s;
      if (line.k === 0) continue; // a messageId the server assigned: no key
      keyOf(line.p, line.m, keys, n * 4);
      days[n++] = Math.floor(line.r / 86_400_000);
      projects.push(line.p);
    }
    segments.push({ id, file, count, keys: keys.subarray(0, n * 4), days: days.subarray(0, n), projects, eventsByProject });
  }
  await fs.rm(path.join(dir, '.probe'), { force: true });
  return { segments, maxSeq };
}
