// The EventLog contract against the embedded segment log, read back the way a restart does.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SegmentLog, recoverSegments } from '../../src/log/segment.log.js';
import { eventLogContract } from './event-log.contract.js';

eventLogContract('segment files', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'solute-seglog-'));
  const log = await SegmentLog.open(dir, {
    segmentMaxBytes: 4096, // small: the concurrent test crosses several segments
    segmentMaxAgeMs: 50,
    minSegmentId: 0,
    nextSeq: 1,
    onSegmentClosed: () => undefined,
  });
  return {
    log,
    async readAll() {
      const { segments } = await recoverSegments(dir, 0, () => undefined);
      const lines: string[] = [];
      for (const s of segments) {
        const text = await fs.readFile(s.file, 'utf8');
        lines.push(...text.split('\n').filter((l) => l.length > 0));
      }
      return lines;
    },
    cleanup: () => fs.rm(dir, { recursive: true, force: true }),
  };
});
