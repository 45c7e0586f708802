import { describe, expect, it } from 'vitest';
import { lineHead, lineTail, parseLine, readBulkLine, readLineKeyAt } from './log-line.js';

/** A line as the edge writes it (without its \n). */
function line(event: Record<string, unknown>, bulk = true, ip: string | null = '203.0.113.7'): string {
  const ua = typeof (event.context as { userAgent?: unknown } | undefined)?.userAgent === 'string' ? ((event.context as { userAgent: string }).userAgent) : null;
  return (lineHead('shop', bulk) + 42 + lineTail(event, 1_700_000_000_000, 1_700_000_000_100, JSON.stringify(ip), bulk ? ua : null, false, JSON.stringify(event))).slice(0, -1);
}

describe('readBulkLine', () => {
  const event = { type: 'track', event: 'Clicked', messageId: 'm-1', userId: 'u-1', properties: { a: 'x,"e":{' }, context: { userAgent: 'curl/8' } };

  it('reads the head and leaves the event as the edge wrote it', () => {
    const raw = line(event);
    const r = readBulkLine(raw);
    expect(r).not.toBeNull();
    expect(r!.event).toBe(JSON.stringify(event));
    const { e: _e, ...head } = parseLine(raw);
    expect(r!.line).toMatchObject({ ...head, g: 'curl/8' });
    expect(r!.line.e).toEqual({});
  });

  it('returns null for a line that must be parsed whole', () => {
    expect(readBulkLine(line(event, false))).toBeNull(); // not a bulk-rule line
    expect(readBulkLine(line({ ...event, properties: { nul: 'a\u0000b' } }))).toBeNull(); // the store rewrites NUL
    expect(readBulkLine(line({ ...event, properties: { one: 'a\u0001b' } }))).toBeNull();
    expect(readBulkLine(line({ ...event, properties: { half: '\ud83d' } }))).toBeNull(); // a lone surrogate
    expect(readBulkLine(line(event).slice(0, -3))).toBeNull(); // cut short
    expect(readBulkLine(line(event).replace('"s":42', '"s":"42"'))).toBeNull(); // a damaged head
    expect(readBulkLine('{"v":2,"c":1,"p":"shop"')).toBeNull();
  });
});

describe('readLineKeyAt', () => {
  const v2 = (seq: number, assigned = false) =>
    lineHead('proj "x"', seq % 2 === 0) + seq + lineTail({ type: 'track', messageId: `m-${seq} é`, event: 'E' }, 1000 + seq, 86_400_000 * 3 + seq, 'null', null, assigned, JSON.stringify({ type: 'track', text: ',"e":{ inside the event' }));
  const v1 = (seq: number) => JSON.stringify({ p: 'old', s: seq, t: 1, y: 'track', m: `v1-${seq}`, e: { messageId: `v1-${seq}`, receivedAt: '1970-01-04T00:00:00.005Z' } }) + '\n';

  it('reads each line of a file from its head alone, and only inside its own bytes', () => {
    const lines = [v2(1), '{"v":2,"c":1,"p":"damaged, no event mark"}\n', v2(2, true), v1(3), 'not json\n', '\n', '{"v":2,\n', v2(4)];
    const file = Buffer.from(lines.join(''));
    const got = [];
    for (let start = 0, end = file.indexOf(10); end >= 0; start = end + 1, end = file.indexOf(10, start)) got.push(readLineKeyAt(file, start, end));
    expect(got).toEqual([
      { p: 'proj "x"', s: 1, m: 'm-1 é', r: 86_400_000 * 3 + 1 },
      null, // no `,"e":{` before its own newline: the next line's mark is not taken
      { p: 'proj "x"', s: 2, m: 'm-2 é', r: 86_400_000 * 3 + 2, k: 0 },
      { p: 'old', s: 3, m: 'v1-3', r: 86_400_000 * 3 + 5 },
      null,
      null,
      null,
      { p: 'proj "x"', s: 4, m: 'm-4 é', r: 86_400_000 * 3 + 4 },
    ]);
  });
});
