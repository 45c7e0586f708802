// Disk full: stop acknowledging (503), report not ready, keep data intact, recover once space is freed.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeEvent, postEvents, readAllEvents, sleep, startTestServer, tempDir, waitForDrain, type TestServer } from '../helpers/solute.js';

function tryMount(dir: string): string | null {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', dir], { stdio: 'pipe' });
    return null;
  } catch (err) {
    return String((err as { stderr?: Buffer }).stderr ?? err).trim();
  }
}

const mountPoint = tempDir('solute-diskfull-');
const mountError = tryMount(mountPoint);
if (mountError && process.env.SOLUTE_CI) {
  // CI runs as root on a machine that allows tmpfs mounts: never skip there.
  throw new Error(`disk-full test cannot mount a tmpfs in CI: ${mountError}`);
}
if (mountError) {
  // Only where the machine forbids mounting (not root, no CAP_SYS_ADMIN).
  console.warn(`disk-full test skipped: cannot mount a tmpfs here (${mountError})`);
}

async function readyz(url: string): Promise<{ status: number; body: { checks: Record<string, boolean> } }> {
  const r = await fetch(`${url}/readyz`);
  return { status: r.status, body: (await r.json()) as { checks: Record<string, boolean> } };
}

describe.skipIf(mountError !== null)('disk full', () => {
  let s: TestServer;
  const filler = path.join(mountPoint, 'filler');

  beforeAll(async () => {
    s = await startTestServer({ segmentMaxAgeMs: 100 }, path.join(mountPoint, 'data'));
  });
  afterAll(async () => {
    await s?.close();
    execFileSync('umount', ['-l', mountPoint]);
  });

  it('answers 503 while the disk is full and acknowledges again once space is freed, without a restart', async () => {
    const before = { batch: [makeEvent(), makeEvent()], sentAt: new Date().toISOString() };
    expect((await postEvents(s.url, s.writeKey, before)).status).toBe(200);
    await waitForDrain(s.url);

    // Fill the file system to the last byte.
    const fd = fs.openSync(filler, 'w');
    const chunk = Buffer.alloc(1024 * 1024, 1);
    try {
      for (;;) fs.writeSync(fd, chunk);
    } catch (err) {
      expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
    }
    try {
      for (;;) fs.writeSync(fd, chunk, 0, 512);
    } catch {
      // now truly full
    }
    fs.closeSync(fd);

    const during = { batch: Array.from({ length: 50 }, () => makeEvent({ properties: { pad: 'x'.repeat(500) } })), sentAt: new Date().toISOString() };
    const refused = await postEvents(s.url, s.writeKey, during);
    expect(refused.status).toBe(503);
    expect(refused.body).toMatchObject({ success: false, code: 'SOL_ERR_LOG_UNAVAILABLE' });
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    const notReady = await readyz(s.url);
    expect(notReady.status).toBe(503);
    expect(notReady.body.checks.logWritable).toBe(false);

    fs.rmSync(filler);
    const deadline = Date.now() + 15_000;
    while ((await readyz(s.url)).status !== 200) {
      if (Date.now() > deadline) throw new Error(`not ready again: ${JSON.stringify((await readyz(s.url)).body)}`);
      await sleep(100);
    }
    // The refused batch was not kept: its retry is new, not a duplicate.
    const retry = await postEvents(s.url, s.writeKey, during);
    expect(retry.status).toBe(200);
    expect(retry.body).toMatchObject({ processed: 50, duplicates: 0 });

    await waitForDrain(s.url);
    const stored = await readAllEvents(s.url, s.secretKey);
    const ids = [...before.batch, ...during.batch].map((e) => e.messageId).sort();
    expect(stored.map((e) => e.messageId).sort()).toEqual(ids);
  });
});
