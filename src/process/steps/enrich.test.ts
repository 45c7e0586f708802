// The enrich step on real user agents (ua-parser-js itself, no stand-in) and real IP text.
import { describe, expect, it } from 'vitest';
import { cachedUaParser, createEnrich } from './enrich.js';

const UA = {
  chromeWindows: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  chromeMac: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  safariIos:
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1',
  safariIpad:
    'Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1',
  chromeAndroid:
    'Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36',
  /** What an Android app's HTTP stack sends (Segment's and RudderStack's Android SDKs report it as context.userAgent). */
  androidApp: 'Dalvik/2.1.0 (Linux; U; Android 14; Pixel 8 Build/UQ1A.240205.004)',
  firefoxLinux: 'Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0',
  curl: 'curl/8.5.0',
  googlebot: 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
};

/** 10 KB of deterministic junk with the characters UA regexes care about. */
function garbage(bytes: number): string {
  const alphabet = 'abcXYZ019 ;/()._-:,+[]{}\\?*|^$Mozilla Android iPhone Windows NT Chrome/ Version/ like Gecko';
  let x = 0x2545f491;
  let s = '';
  while (s.length < bytes) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    s += alphabet[(x >>> 0) % alphabet.length];
  }
  return s;
}

function run(context: unknown, clientIp: string | null = '198.51.100.23', ipMode: 'keep' | 'truncate' | 'drop' = 'keep') {
  const event: Record<string, unknown> = { type: 'track', event: 'x', context };
  if (context === undefined) delete event.context;
  createEnrich({ ipMode })(event, clientIp);
  return event;
}

function ctx(userAgent: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return run({ userAgent, ...extra }, null).context as Record<string, unknown>;
}

describe('enrich: user agent', () => {
  it('Chrome on Windows: browser, OS, and a desktop device', () => {
    expect(ctx(UA.chromeWindows)).toEqual({
      userAgent: UA.chromeWindows,
      browser: { name: 'Chrome', version: '124.0.0.0' },
      os: { name: 'Windows', version: '10' },
      device: { type: 'desktop' },
    });
  });

  it('Chrome on a Mac: the maker is `manufacturer` (ua-parser says vendor)', () => {
    expect(ctx(UA.chromeMac).device).toEqual({ type: 'desktop', manufacturer: 'Apple', model: 'Macintosh' });
    expect(ctx(UA.chromeMac).os).toEqual({ name: 'Mac OS', version: '10.15.7' });
  });

  it('Firefox on Linux is a desktop with an OS and no OS version', () => {
    const c = ctx(UA.firefoxLinux);
    expect(c.browser).toEqual({ name: 'Firefox', version: '125.0' });
    expect(c.os).toEqual({ name: 'Linux' });
    expect(c.device).toEqual({ type: 'desktop' });
  });

  it('Safari on iOS: mobile, Apple iPhone; on iPad: tablet', () => {
    const c = ctx(UA.safariIos);
    expect(c.browser).toEqual({ name: 'Mobile Safari', version: '17.4' });
    expect(c.os).toEqual({ name: 'iOS', version: '17.4' });
    expect(c.device).toEqual({ type: 'mobile', manufacturer: 'Apple', model: 'iPhone' });
    expect(ctx(UA.safariIpad).device).toEqual({ type: 'tablet', manufacturer: 'Apple', model: 'iPad' });
  });

  it('Chrome on Android: mobile with maker and model', () => {
    const c = ctx(UA.chromeAndroid);
    expect(c.os).toEqual({ name: 'Android', version: '14' });
    expect(c.device).toEqual({ type: 'mobile', manufacturer: 'Samsung', model: 'SM-S918B' });
  });

  it('an Android app: the SDK-sent os and device are kept, only missing keys are added', () => {
    const sent = {
      os: { name: 'Android', version: '14' },
      device: { id: 'd-1', manufacturer: 'Google', model: 'Pixel 8', type: 'android', name: 'husky' },
    };
    const c = ctx(UA.androidApp, structuredClone(sent));
    expect(c.os).toEqual(sent.os);
    expect(c.device).toEqual(sent.device); // `type: 'android'` is not replaced by ua-parser's 'mobile'
    expect(c).not.toHaveProperty('browser'); // Dalvik is no browser

    // The same app without os/device: what the UA says is added; a partial object is completed.
    const bare = ctx(UA.androidApp, { device: { id: 'd-1', model: 'mine' } });
    expect(bare.os).toEqual({ name: 'Android', version: '14' });
    expect(bare.device).toEqual({ id: 'd-1', model: 'mine', manufacturer: 'Google', type: 'mobile' });
  });

  it('a client value of null, or a non-object, is never replaced', () => {
    const c = ctx(UA.chromeWindows, { browser: 'my-browser', os: ['x'], device: { type: null } });
    expect(c.browser).toBe('my-browser');
    expect(c.os).toEqual(['x']);
    expect(c.device).toEqual({ type: null });
    // context.browser itself set to null counts as absent
    expect(ctx(UA.chromeWindows, { browser: null }).browser).toEqual({ name: 'Chrome', version: '124.0.0.0' });
  });

  it('curl, a bot, the empty string, a non-string and 10 KB of garbage add nothing and do not throw', () => {
    for (const ua of [UA.curl, UA.googlebot, '', 42, { a: 1 }, null, garbage(10 * 1024)]) {
      expect(ctx(ua), String(ua).slice(0, 20)).toEqual({ userAgent: ua });
    }
  });

  it('a real UA followed by 10 KB of garbage is parsed from its start (ua-parser reads 500 characters)', () => {
    expect(ctx(UA.chromeWindows + garbage(10 * 1024)).browser).toEqual({ name: 'Chrome', version: '124.0.0.0' });
  });

  it('events never share the objects they are given', () => {
    const enrich = createEnrich({ ipMode: 'keep' });
    const a: Record<string, unknown> = { context: { userAgent: UA.safariIos } };
    const b: Record<string, unknown> = { context: { userAgent: UA.safariIos } };
    enrich(a, null);
    enrich(b, null);
    ((a.context as any).device as any).model = 'changed';
    expect((b.context as any).device.model).toBe('iPhone');
  });
});

describe('enrich: the UA cache', () => {
  it('answers a repeated UA from the cache and drops the least recently used past its capacity', () => {
    const parse = cachedUaParser(2);
    const a = parse(UA.chromeWindows);
    expect(parse(UA.chromeWindows)).toBe(a); // hit: the same result object
    parse(UA.safariIos);
    parse(UA.chromeWindows); // A is now the most recent
    parse(UA.firefoxLinux); // evicts the Safari entry, not A
    expect(parse(UA.chromeWindows)).toBe(a);
    const s = parse(UA.safariIos); // parsed again
    parse(UA.firefoxLinux);
    parse(UA.curl); // evicts A
    expect(parse(UA.chromeWindows)).not.toBe(a);
    expect(parse(UA.chromeWindows)).toEqual(a);
    expect(s).toEqual(parse(UA.safariIos));
  });

  it('does not keep user agents longer than ua-parser reads, nor anything with capacity 0', () => {
    const long = UA.chromeWindows + garbage(1000);
    const parse = cachedUaParser(10);
    expect(parse(long)).not.toBe(parse(long));
    const off = cachedUaParser(0);
    expect(off(UA.chromeWindows)).not.toBe(off(UA.chromeWindows));
    expect(off(UA.chromeWindows)).toEqual(parse(UA.chromeWindows));
  });
});

describe('enrich: context.ip', () => {
  it('keep: the client IP fills a missing context.ip; a client-sent one is kept', () => {
    expect(run({}).context).toEqual({ ip: '198.51.100.23' });
    expect(run({ ip: '203.0.113.9' }).context).toEqual({ ip: '203.0.113.9' });
    expect(run({ ip: null }).context).toEqual({ ip: '198.51.100.23' }); // null counts as absent
    expect(run({}, null).context).toEqual({}); // unknown client IP: nothing set
    expect(run({ ip: '::ffff:203.0.113.9' }).context).toEqual({ ip: '::ffff:203.0.113.9' }); // kept exactly as sent
  });

  it('an IPv4 client seen on a dual-stack socket is recorded as IPv4', () => {
    expect(run({}, '::ffff:198.51.100.23').context).toEqual({ ip: '198.51.100.23' });
    expect(run({}, '2001:db8::1').context).toEqual({ ip: '2001:db8::1' });
  });

  it('creates context when the event has none (or null), unless there is nothing to put in it', () => {
    expect(run(undefined).context).toEqual({ ip: '198.51.100.23' });
    expect(run(null).context).toEqual({ ip: '198.51.100.23' });
    expect(run(undefined, null)).not.toHaveProperty('context');
    expect(run(undefined, '198.51.100.23', 'drop')).not.toHaveProperty('context');
  });

  it('leaves an event alone whose context is not a plain object', () => {
    for (const c of ['text', 42, true, ['a'], [{ userAgent: UA.chromeWindows }]]) {
      const e = run(structuredClone(c), '198.51.100.23', 'truncate');
      expect(e.context).toEqual(c);
    }
  });

  it('truncate: IPv4 to /24, IPv6 to /48, client-sent ones too; what is not an IP is removed', () => {
    expect(run({}, '198.51.100.23', 'truncate').context).toEqual({ ip: '198.51.100.0' });
    expect(run({ ip: '203.0.113.255' }, null, 'truncate').context).toEqual({ ip: '203.0.113.0' });
    expect(run({}, '2001:db8:abcd:12:3456::1', 'truncate').context).toEqual({ ip: '2001:db8:abcd::' });
    expect(run({}, '::ffff:198.51.100.23', 'truncate').context).toEqual({ ip: '198.51.100.0' });
    for (const bad of ['not an ip', '999.1.1.1', '1.2.3.4/24', '1.2.3', '', 12345, { ip: 1 }, null]) {
      expect(run({ ip: bad }, null, 'truncate').context, String(bad)).toEqual({});
    }
  });

  it('drop: context.ip is removed, client-sent too, and the client IP is not added', () => {
    expect(run({ ip: '203.0.113.9', userAgent: UA.curl }, '198.51.100.23', 'drop').context).toEqual({ userAgent: UA.curl });
    expect(run({}, '198.51.100.23', 'drop').context).toEqual({});
  });
});

describe('enrich: hostile keys', () => {
  it('a __proto__ or constructor key in context or its objects pollutes nothing and hides nothing', () => {
    const event = JSON.parse(
      '{"context":{"__proto__":{"ip":"6.6.6.6","polluted":1},"constructor":{"prototype":{"polluted":1}},' +
        `"userAgent":${JSON.stringify(UA.chromeWindows)},"browser":{"__proto__":{"name":"Evil"}}}}`,
    ) as Record<string, unknown>;
    createEnrich({ ipMode: 'truncate' })(event, '198.51.100.23');
    const c = event.context as Record<string, any>;
    expect(Object.hasOwn(c, 'ip')).toBe(true);
    expect(c.ip).toBe('198.51.100.0'); // the own "__proto__" key is data, not a context.ip
    expect(c.browser.name).toBe('Chrome');
    expect(Object.hasOwn(c.browser, 'name')).toBe(true);
    expect(Object.getPrototypeOf(c)).toBe(Object.prototype);
    expect(({} as any).polluted).toBeUndefined();
    expect(({} as any).ip).toBeUndefined();
    expect(({} as any).name).toBeUndefined();
  });

  it('a context with a null prototype is enriched like any object', () => {
    const c = Object.assign(Object.create(null), { userAgent: UA.safariIos }) as Record<string, unknown>;
    const event: Record<string, unknown> = { context: c };
    createEnrich({ ipMode: 'keep' })(event, '198.51.100.23');
    expect(c.ip).toBe('198.51.100.23');
    expect(c.os).toEqual({ name: 'iOS', version: '17.4' });
  });
});
