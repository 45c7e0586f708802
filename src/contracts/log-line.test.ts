import { describe, expect, it } from 'vitest';
import { lineHead, lineTail, parseLine, readBulkLine } from './log-line.js';

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
