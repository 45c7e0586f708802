// IP text as SOLUTE_IP_MODE=truncate writes it, on the edge's client IP and the enrich step's context.ip.
import { describe, expect, it } from 'vitest';
import { truncateIp, unmapIPv4 } from './ip.js';

describe('IP text', () => {
  it('truncateIp: IPv4 to its /24; not an IP (or not a string) is null', () => {
    expect(truncateIp('198.51.100.23')).toBe('198.51.100.0');
    expect(truncateIp('10.0.0.0')).toBe('10.0.0.0');
    for (const bad of ['not an ip', '999.1.1.1', '1.2.3.4/24', '1.2.3', '01.2.3.4', '', 12345, null, undefined, {}]) {
      expect(truncateIp(bad), String(bad)).toBeNull();
    }
  });

  it('truncateIp: the IPv6 forms, written per RFC 5952', () => {
    const cases: Array<[string, string]> = [
      ['2001:0DB8:00AB:ffff:ffff:ffff:ffff:ffff', '2001:db8:ab::'],
      ['2001:db8::1', '2001:db8::'],
      ['2001::1', '2001::'],
      ['::1', '::'],
      ['::', '::'],
      ['fe80::1%eth0', 'fe80::'],
      ['0:0:1::', '0:0:1::'],
      ['64:ff9b::198.51.100.23', '64:ff9b::'], // NAT64: an IPv6 prefix, truncated as IPv6
      ['::ffff:198.51.100.23', '198.51.100.0'], // IPv4-mapped: truncated as the IPv4 address it is
      ['::FFFF:c633:6417', '198.51.100.0'], // the same in hex form
      ['  198.51.100.23 ', '198.51.100.0'],
    ];
    for (const [ip, want] of cases) expect(truncateIp(ip), ip).toBe(want);
    for (const bad of ['2001:db8::1::2', '2001:db8:1:2:3:4:5:6:7', 'gggg::', '::ffff:999.1.1.1', '[::1]']) {
      expect(truncateIp(bad), bad).toBeNull();
    }
    expect(unmapIPv4('::ffff:1.2.3.4')).toBe('1.2.3.4');
    expect(unmapIPv4('::ffff:1.2.3')).toBe('::ffff:1.2.3');
  });
});
