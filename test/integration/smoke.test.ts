import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getEvents, makeEvent, postEvents, startTestServer, waitForDrain, type TestServer } from '../helpers/solute.js';

describe('smoke', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s.close());

  it('accepts a batch and makes it queryable', async () => {
    const e = makeEvent();
    const r = await postEvents(s.url, s.writeKey, { batch: [e], sentAt: new Date().toISOString() });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ success: true, processed: 1, failed: 0, duplicates: 0, errors: [] });
    await waitForDrain(s.url);
    const q = await getEvents(s.url, s.secretKey, { messageId: e.messageId as string });
    expect(q.status).toBe(200);
    expect(q.body.events).toHaveLength(1);
    expect(q.body.events[0].messageId).toBe(e.messageId);
  });
});
