// Temporary data dirs for tests, removed after each test file (test/helpers/cleanup.setup.ts): a full
// run used to leave ~140 of them in /tmp. Kept apart from solute.ts so the setup file imports nothing heavy.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const made = new Set<string>();

export function tempDir(prefix = 'solute-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.add(dir);
  return dir;
}

/** Removes the dirs tempDir made; run after each test file's own afterAll hooks (which stop its servers). */
export function removeTempDirs(): void {
  for (const dir of made) {
    made.delete(dir);
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // A dir still in use by a child that outlived its test: left for the OS's tmp cleaning.
    }
  }
}
