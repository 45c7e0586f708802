// The data directory is for the Solute user only (SECURITY.md): directories 0700, files 0600.
// bin/solute sets its umask to 077, so whatever it creates, through whatever library, is born that
// way; a directory made by an older version, or copied in with wider modes, is tightened at start.
import fs from 'node:fs/promises';
import { constants } from 'node:fs';
import path from 'node:path';

/** The umask bin/solute runs with: no bit for group or others on anything it creates. */
export const PRIVATE_UMASK = 0o077;

export interface Tightened {
  /** Directories whose mode was narrowed to 0700 at most. */
  dirs: number;
  /** Files (sockets and the like included) narrowed to 0600 at most. */
  files: number;
  /** Entries that could not be changed (another owner, a read-only mount), with the reason; at most 10 listed. */
  failed: Array<{ path: string; code: string }>;
  failedCount: number;
}

/**
 * Narrows every directory under `root` (itself included) to at most 0700 and every other entry to at
 * most 0600: bits are only ever taken away (a 0400 file stays 0400). Symbolic links inside are neither
 * followed nor changed; `root` itself may be one (an operator's choice of where the data lives).
 * A directory is narrowed before its entries are read, so once `root` is 0700 nobody else can swap
 * an entry for a link under the walk; each change goes through a handle opened with O_NOFOLLOW.
 */
export async function tightenTree(root: string): Promise<Tightened> {
  const out: Tightened = { dirs: 0, files: 0, failed: [], failedCount: 0 };
  const fail = (p: string, err: unknown) => {
    out.failedCount++;
    if (out.failed.length < 10) out.failed.push({ path: p, code: (err as NodeJS.ErrnoException).code ?? String(err) });
  };
  const stack = [await fs.realpath(root)];
  while (stack.length > 0) {
    const p = stack.pop()!;
    let st;
    try {
      st = await fs.lstat(p);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') fail(p, err); // gone meanwhile: nothing to tighten
      continue;
    }
    if (st.isSymbolicLink()) continue;
    const isDir = st.isDirectory();
    const max = isDir ? 0o700 : 0o600;
    const mode = st.mode & 0o7777;
    if ((mode & ~max) !== 0) {
      try {
        await narrow(p, st, mode & max);
        if (isDir) out.dirs++;
        else out.files++;
      } catch (err) {
        fail(p, err);
      }
    }
    if (isDir) {
      try {
        for (const name of await fs.readdir(p)) stack.push(path.join(p, name));
      } catch (err) {
        fail(p, err);
      }
    }
  }
  return out;
}

/** chmod through a handle on the very entry lstat saw; by path only for what cannot be opened (a socket). */
async function narrow(p: string, seen: { dev: number; ino: number; isFile(): boolean; isDirectory(): boolean }, mode: number): Promise<void> {
  if (!seen.isFile() && !seen.isDirectory()) {
    await fs.chmod(p, mode); // sockets and FIFOs: opening a FIFO would block, a socket cannot be opened
    return;
  }
  let h;
  try {
    h = await fs.open(p, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    // Not readable by its owner (mode 0200 and the like; root reads anything): by path, as lstat saw it.
    if ((err as NodeJS.ErrnoException).code === 'EACCES') return fs.chmod(p, mode);
    throw err;
  }
  try {
    const now = await h.stat();
    if (now.dev !== seen.dev || now.ino !== seen.ino) throw Object.assign(new Error(`${p} changed during the walk`), { code: 'ECHANGED' });
    await h.chmod(mode);
  } finally {
    await h.close();
  }
}
