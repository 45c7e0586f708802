// GET /openapi.json: served without a key, lists every route the server registers (a route added
// without a summary fails here), and its query-parameter schemas are the ones the server enforces:
// for each documented GET route, a request built from the document passes, and one that breaks a
// documented rule gets a 400 naming the parameter.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { loadConfig } from '../../src/config.js';
import { buildApp } from '../../src/ingest/app.js';
import { createMetrics } from '../../src/metrics.js';
import { MetaStore } from '../../src/store/sqlite/meta.store.js';
import { dataPaths } from '../../src/data-paths.js';
import { makeEvent, postEvents, startTestServer, tempDir, waitForDrain, type TestServer } from '../helpers/solute.js';
import { expectError, getJson } from '../helpers/assertions.js';
import { signIn } from '../helpers/console.js';
import { SqliteSessionStore } from '../../src/store/sqlite/console-sessions.js';
import { LiveFeed } from '../../src/console/live-feed.js';

type Param = { name: string; in: string; required?: boolean; schema: Record<string, any>; description?: string };

/** Every route buildApp registers with every dependency present, as METHOD path (HEAD and hidden routes aside). */
async function registeredRoutes(): Promise<string[]> {
  const dir = tempDir();
  const meta = new MetaStore(dataPaths(dir).meta);
  const sessions = new SqliteSessionStore(dataPaths(dir).meta);
  const unused = () => {
    throw new Error('not called: only the routes are listed');
  };
  const app = buildApp(loadConfig({}, { dataDir: dir }), {
    logger: pino({ level: 'silent' }),
    keys: meta,
    metrics: createMetrics(),
    readiness: () => ({}),
    acceptBatch: unused,
    store: { queryEvents: unused },
    stats: { countEvents: unused, topEvents: unused, topPages: unused, funnel: unused, retention: unused },
    profiles: { profile: unused, profiles: unused, group: unused },
    console: { sessions, live: new LiveFeed({ maxSubscribers: 1 }), deadLetters: { deadLetters: unused, replay: unused } },
  });
  const routes: string[] = [];
  // Routes are declared in a plugin that loads at ready(), so a hook added now sees all of them.
  app.addHook('onRoute', (r) => {
    if ((r.schema as { hide?: boolean } | undefined)?.hide) return;
    // Fastify's `:id` is OpenAPI's `{id}`.
    for (const m of [r.method].flat()) if (m !== 'HEAD') routes.push(`${m} ${r.url.replace(/:(\w+)/g, '{$1}')}`);
  });
  await app.ready();
  await app.close();
  await sessions.close();
  meta.close();
  return routes.sort();
}

describe('GET /openapi.json', () => {
  let s: TestServer;
  let doc: any;

  /** What the paths' `{id}` stands for in the requests below: a user and a group that exist. */
  const PROBE_ID = 'openapi-probe';

  beforeAll(async () => {
    s = await startTestServer();
    const sentAt = new Date().toISOString();
    const probe = await postEvents(s.url, s.writeKey, {
      batch: [makeEvent({ type: 'identify', event: undefined, userId: PROBE_ID }), makeEvent({ type: 'group', event: undefined, userId: PROBE_ID, groupId: PROBE_ID })],
      sentAt,
    });
    expect(probe.body).toMatchObject({ processed: 2, failed: 0 });
    await waitForDrain(s.url);
    const r = await getJson(s.url, '/openapi.json');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    doc = r.body;
  });
  afterAll(() => s.close());

  it('is an OpenAPI 3 document, served without a key', () => {
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.info.title).toBe('Solute');
    expect(Object.keys(doc.components.securitySchemes).sort()).toEqual(['consoleSession', 'secretKey', 'segmentBasic', 'writeKey', 'writeKeyQuery']);
  });

  it('lists every registered route, each with a summary', async () => {
    const routes = await registeredRoutes();
    expect(routes).toContain('POST /api/events');
    expect(routes).toContain('GET /api/stats/events');
    const documented: string[] = [];
    for (const [p, ops] of Object.entries<any>(doc.paths)) {
      for (const [m, op] of Object.entries<any>(ops)) {
        documented.push(`${m.toUpperCase()} ${p}`);
        expect(op.summary, `${m} ${p} has a summary`).toEqual(expect.any(String));
      }
    }
    expect(documented.sort()).toEqual(routes);
  });

  it('shows the event schema the ack path checks as the body of POST /api/events, and keys per route', () => {
    const post = doc.paths['/api/events'].post;
    const body = post.requestBody.content['application/json'].schema;
    expect(body.required).toEqual(['batch', 'sentAt']);
    expect(body.properties.batch.maxItems).toBe(100);
    expect(body.properties.batch.items.properties.type.enum).toEqual(['track', 'identify', 'page', 'group', 'alias']);
    expect(body.properties.batch.items.required).toEqual(['type', 'messageId', 'timestamp', 'context']);
    expect(post.security).toEqual([{ writeKey: [] }]);
    expect(doc.paths['/api/events'].get.security).toEqual([{ secretKey: [] }]);
    expect(doc.paths['/api/stats/events'].get.security).toEqual([{ secretKey: [] }]);
    expect(doc.paths['/v1/batch'].post.security).toEqual([{ writeKey: [] }, { segmentBasic: [] }, { writeKeyQuery: [] }]);
  });

  /** A value the schema accepts. */
  function valid(name: string, schema: Record<string, any>): string {
    // A parameter whose value has a shape of its own (JSON) documents an example.
    if (schema.example !== undefined) return String(schema.example);
    if (schema.enum) return String(schema.default ?? schema.enum[0]);
    if (schema.format === 'date-time') return name === 'to' ? '2025-01-02T00:00:00Z' : '2025-01-01T00:00:00Z';
    if (schema.type === 'integer') return String(schema.default ?? schema.minimum ?? 1);
    if (name === 'tz') return 'Europe/Berlin';
    return 'x';
  }

  /** Values the schema refuses, each with what makes it wrong. */
  function invalid(schema: Record<string, any>): string[] {
    const out: string[] = [];
    if (schema.enum) out.push('not-one-of-them');
    if (schema.format === 'date-time') out.push('2025-01-01', 'yesterday');
    if (schema.type === 'integer') {
      out.push('abc', '1.5');
      if (schema.minimum !== undefined) out.push(String(schema.minimum - 1));
      if (schema.maximum !== undefined) out.push(String(schema.maximum + 1));
    }
    if (schema.minLength !== undefined) out.push('');
    if (schema.maxLength !== undefined) out.push('a'.repeat(schema.maxLength + 1));
    return out;
  }

  it('every documented query parameter rule is enforced (400 naming the parameter), and a documented valid request passes', async () => {
    const bearer = { authorization: `Bearer ${s.secretKey}` };
    const session = { cookie: (await signIn(s.url, s.secretKey)).cookie };
    let checked = 0;
    for (const [p, ops] of Object.entries<any>(doc.paths)) {
      // A parameter's documented example (OpenAPI puts it beside the schema) is what valid() sends for it.
      const params: Param[] = (ops.get?.parameters ?? [])
        .filter((x: Param) => x.in === 'query')
        .map((x: Param & { example?: unknown }) => (x.example === undefined ? x : { ...x, schema: { ...x.schema, example: x.example } }));
      if (params.length === 0) continue;
      // A stream answers 200 and stays open: its parameters are checked in console.test.ts.
      if (Object.keys(ops.get.responses?.['200']?.content ?? {}).includes('text/event-stream')) continue;
      // Routes only a console session may call take its cookie; the others a secret key.
      const auth = ops.get.security?.some((x: object) => 'consoleSession' in x) && !ops.get.security.some((x: object) => 'secretKey' in x) ? session : bearer;
      const base = Object.fromEntries(params.filter((x) => x.required).map((x) => [x.name, valid(x.name, x.schema)]));
      const url = (q: Record<string, string>) => `${p.replace('{id}', PROBE_ID)}?${new URLSearchParams(q)}`;
      const ok = await getJson(s.url, url(base), auth);
      expect(ok.status, `${p} ${JSON.stringify(ok.body)}`).toBe(200);
      // A parameter the document does not list.
      const extra = await getJson(s.url, url({ ...base, notDocumented: '1' }), auth);
      expectError(extra, 400, 'SOL_ERR_QUERY_INVALID_PARAM');
      expect(extra.body.message).toContain('notDocumented');
      for (const param of params) {
        // Each documented parameter alone, with a valid value, passes (a cursor is an opaque token the API hands out: no value to make up).
        if (param.name !== 'cursor') {
          // A parameter documented as needing another (`value` needs `trait`) is sent with it.
          const needs = /needs `(\w+)`/.exec(param.description ?? '')?.[1];
          const partner = needs ? { [needs]: valid(needs, params.find((x) => x.name === needs)!.schema) } : {};
          const one = await getJson(s.url, url({ ...base, ...partner, [param.name]: valid(param.name, param.schema) }), auth);
          expect(one.status, `${p} ${param.name}: ${JSON.stringify(one.body)}`).toBe(200);
        }
        for (const bad of invalid(param.schema)) {
          const r = await getJson(s.url, url({ ...base, [param.name]: bad }), auth);
          expect(r.status, `${p} ${param.name}=${bad.slice(0, 20)}`).toBe(400);
          expectError(r, 400, 'SOL_ERR_QUERY_INVALID_PARAM');
          expect(r.body.message, `${p} ${param.name}=${bad}`).toContain(param.name);
          checked++;
        }
        if (param.required) {
          const { [param.name]: _, ...without } = base;
          const r = await getJson(s.url, url(without), auth);
          expectError(r, 400, 'SOL_ERR_QUERY_INVALID_PARAM');
          expect(r.body.message).toContain(param.name);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(30);
  });
});
