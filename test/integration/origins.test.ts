// Per-project allowed origins: enforced on the POST (a preflight carries no key), set by the CLI while the server runs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, makeEvent, postEvents, sleep, startTestServer, type TestServer } from '../helpers/solute.js';

describe('allowed origins per project', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ keyRefreshMs: 100 });
  });
  afterAll(() => s.close());

  const send = (origin?: string) =>
    postEvents(s.url, s.writeKey, { batch: [makeEvent()], sentAt: new Date().toISOString() }, origin ? { origin } : {});
  const sendV1 = (origin: string) =>
    fetch(`${s.url}/v1/track`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', authorization: `Basic ${Buffer.from(`${s.writeKey}:`).toString('base64')}`, origin },
      body: JSON.stringify(makeEvent({ type: undefined })),
    });
  async function until(check: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + 5000;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error('condition not reached within 5 s');
      await sleep(50);
    }
  }

  it('lets any origin send while the project has no list', async () => {
    expect((await send('https://anywhere.example')).status).toBe(200);
  });

  it('once set, refuses other origins with 403 (CORS headers kept), accepts listed ones and requests without Origin', async () => {
    const out = cli(s.dataDir, 'origins', 'set', '--project', 'test', 'https://app.example.com', 'http://localhost:3000');
    expect(out).toContain('https://app.example.com');
    await until(async () => (await send('https://evil.example')).status === 403);

    const refused = await send('https://evil.example');
    expect(refused.body).toMatchObject({ success: false, code: 'SOL_ERR_AUTH_ORIGIN_NOT_ALLOWED' });
    expect(refused.headers.get('access-control-allow-origin')).toBe('*'); // the browser can read why
    expect((await send('https://app.example.com')).status).toBe(200);
    expect((await send('http://localhost:3000')).status).toBe(200);
    expect((await send()).status).toBe(200); // server-side SDKs send no Origin
    expect((await sendV1('https://evil.example')).status).toBe(403);
    expect((await sendV1('https://app.example.com')).status).toBe(200);

    expect(cli(s.dataDir, 'origins', 'list')).toMatch(/test\thttps:\/\/app\.example\.com http:\/\/localhost:3000/);
    cli(s.dataDir, 'origins', 'clear', '--project', 'test');
    await until(async () => (await send('https://evil.example')).status === 200);
  });

  it('the CLI refuses what is not an origin', () => {
    expect(() => cli(s.dataDir, 'origins', 'set', '--project', 'test', 'https://app.example.com/path')).toThrow();
    expect(() => cli(s.dataDir, 'origins', 'set', '--project', 'test', 'app.example.com')).toThrow();
    expect(() => cli(s.dataDir, 'origins', 'set', '--project', 'test')).toThrow();
  });
});
