// Small helpers for making file-system changes survive a power cut.
import fs from 'node:fs/promises';

/** fsyncs a directory, so that files created or removed in it are durable. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
