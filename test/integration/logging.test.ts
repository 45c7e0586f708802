// Logs are JSON lines, one per event of note, and never carry event payloads or keys at info level.
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startSolute } from '../../src/main.js';
import { cli, getEvents, makeEvent, postEvents, tempDir, waitForDrain } from '../helpers/solute.js';

describe('logging', () => {
  it('writes JSON lines without payloads, messages of parse errors or keys', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(...String(chunk).split('\n').filter(Boolean));
        done();
      },
    });
    const dataDir = tempDir();
    const writeKey = cli(dataDir, 'keys', 'create', '--project', 'logs');
    const secretKey = cli(dataDir, 'keys', 'create', '--project', 'logs', '--secret');
    const config = loadConfig({}, { dataDir, port: 0, host: '127.0.0.1', segmentMaxAgeMs: 50 });
    const solute = await startSolute(config, pino({ level: 'info' }, sink));
    const MARK = 'TOPSECRET_PAYLOAD_7f3a';
    try {
      const url = solute.url;
      await postEvents(url, writeKey, { batch: [makeEvent({ properties: { v: MARK } })], sentAt: new Date().toISOString() });
      await postEvents(url, writeKey, `{"batch": [${MARK}]}`); // malformed: V8's message quotes the body
      await postEvents(url, writeKey, { batch: [{ type: 'track', event: MARK }], sentAt: new Date().toISOString() }); // invalid event
      await postEvents(url, `wk_${MARK}`, { batch: [makeEvent()], sentAt: new Date().toISOString() }); // unknown key
      await waitForDrain(url);
      await getEvents(url, secretKey);
    } finally {
      await solute.close();
    }
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      expect(() => JSON.parse(line)).not.toThrow();
      expect(line).not.toContain(MARK);
      expect(line).not.toContain(writeKey);
      expect(line).not.toContain(secretKey);
    }
    expect(lines.some((l) => JSON.parse(l).code === 'SOL_ERR_BODY_INVALID_JSON')).toBe(true);
  });
});
