import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readWholeFile } from './read-whole.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'solute-read-whole-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('readWholeFile', () => {
  it.each([0, 3, 512 * 1024 + 1, 9 * 1024 * 1024 + 7])('returns the same bytes as fs.readFile for a file of %i bytes', async (size) => {
    const file = path.join(dir, `f${size}`);
    const bytes = Buffer.alloc(size);
    for (let i = 0; i < size; i += 4093) bytes[i] = (i * 31) & 0xff;
    fs.writeFileSync(file, bytes);
    const got = await readWholeFile(file);
    expect(got.length).toBe(size);
    expect(got.equals(fs.readFileSync(file))).toBe(true);
  });

  it('rejects a missing file', async () => {
    await expect(readWholeFile(path.join(dir, 'missing'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
