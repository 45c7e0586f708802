// buildApp: the HTTP edge, without listening (main.ts listens; tests use it in-process or on port 0).
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import cors, { type FastifyCorsOptions } from '@fastify/cors';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { KeyResolver } from '../contracts/key-store.js';
import type { EventStore } from '../contracts/event-store.js';
import type { Metrics } from '../metrics.js';
import type { AcceptBatch } from './accept-batch.js';
import { MAX_PATH_PARAM_UNITS, clientErrorHandler, frameworkErrors, installErrorHandlers } from './error-handler.js';
import { hasBody, inFlightLimit } from './hooks/in-flight.hook.js';
import { limitConnections } from './connection-limit.js';
import proxyAddr from '@fastify/proxy-addr';
import { backlogGate } from './hooks/backlog-gate.hook.js';
import { RATE_LIMIT_HEADERS, rateLimitHooks, type EventCount } from './hooks/rate-limit.hook.js';
import { SoluteError } from '../errors.js';
import { eventsRoute } from './routes/events.route.js';
import { SEGMENT_METRICS_ROUTE, SEGMENT_ROUTES, segmentRoutes } from './routes/segment.route.js';
import { healthRoutes, type Readiness } from './routes/health.route.js';
import { queryEventsRoute } from '../query/events.route.js';
import { profileRoutes } from '../query/profiles.route.js';
import type { ProfileReader } from '../contracts/profiles.js';
import { statsRoutes } from '../query/stats.route.js';
import type { StatsStore } from '../contracts/stats-store.js';
import { openApiRoute, registerOpenApi } from './openapi.js';
import { registerConsole, type ConsoleDeps } from '../console/console.plugin.js';

export interface AppDeps {
  logger: Logger;
  keys: KeyResolver;
  metrics: Metrics;
  readiness: Readiness;
  /** Absent in a processor-only process. */
  acceptBatch?: AcceptBatch;
  /** Absent in an ingest-only process. */
  store?: Pick<EventStore, 'queryEvents'>;
  /** Profiles and groups; absent in an ingest-only process. */
  profiles?: ProfileReader;
  /** The stats queries; absent: no /api/stats routes. */
  stats?: StatsStore;
  /** The console (its files, sign-in, live view, dead letters, health); absent: none of its routes. */
  console?: ConsoleDeps;
}

const INGEST_ROUTES = new Set(['/api/events', ...Object.keys(SEGMENT_ROUTES)]);
/** Paths whose POST is open to browsers from any origin (preflight included). */
const CORS_PATHS = new Set([...INGEST_ROUTES, SEGMENT_METRICS_ROUTE]);

/**
 * CORS on the ingest routes: any origin (`*`, never a reflected origin, never with credentials: the
 * key travels in a header or the body, not in cookies), the headers Segment's and RudderStack's
 * browser SDKs send, preflights cached for a day, and Retry-After (analytics.js honours it only then)
 * and the rate-limit budget fields readable by scripts.
 */
const CORS_ON: FastifyCorsOptions = {
  origin: '*',
  credentials: false,
  methods: ['POST'],
  allowedHeaders: ['content-type', 'authorization', 'x-api-key', 'x-retry-count'],
  exposedHeaders: ['Retry-After', ...RATE_LIMIT_HEADERS],
  maxAge: 86_400,
};
const CORS_OFF: FastifyCorsOptions = { origin: false };

export function buildApp(config: Config, deps: AppDeps): FastifyInstance {
  const app: FastifyInstance = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }), // one line per event of note, not per request
    bodyLimit: config.bodyLimitBytes,
    requestIdHeader: false,
    return503OnClosing: false, // answered below, in our error format with Retry-After
    // Slow clients (slowloris): headers and whole requests have deadlines, checked every second at
    // most (Node's default check interval is 30 s), and silent sockets are closed.
    http: {
      headersTimeout: config.headersTimeoutMs,
      requestTimeout: config.requestTimeoutMs,
      connectionsCheckingInterval: Math.min(1000, Math.ceil(config.headersTimeoutMs / 2)),
    },
    requestTimeout: config.requestTimeoutMs,
    connectionTimeout: config.idleTimeoutMs,
    forceCloseConnections: 'idle',
    clientErrorHandler, // malformed HTTP, oversized headers, timeouts: answered in our error format
    frameworkErrors, // a path that is not UTF-8 or holds an over-long id: answered in our error format
    routerOptions: { maxParamLength: MAX_PATH_PARAM_UNITS }, // Fastify's default (100) refused ids the routes accept (1024 characters)
    // `__proto__` and `constructor.prototype` keys are refused per event (check-event.ts), not per request.
    onProtoPoisoning: 'ignore',
    onConstructorPoisoning: 'ignore',
    // request.ip: the socket's peer, unless that peer is a listed proxy; then X-Forwarded-For is read
    // from the right, past every trusted hop (proxy-addr). Trusting nobody by default: a client cannot
    // choose the IP it is recorded with by sending the header itself.
    trustProxy: config.trustedProxies === '' ? false : config.trustedProxies.split(','),
    ajv: { customOptions: { removeAdditional: false, coerceTypes: true, useDefaults: true, allErrors: false } },
  });
  // Past the slots, idle keep-alive connections are closed first, then new ones refused at once.
  const trusted = config.trustedProxies === '' ? null : proxyAddr.compile(config.trustedProxies.split(','));
  limitConnections(app.server, {
    max: config.maxConnections,
    perIp: config.maxConnectionsPerIp,
    exempt: (ip) => trusted !== null && trusted(ip, 0),
    onRefused: (reason) => deps.metrics.connectionsRefused.inc({ reason }),
  });
  installErrorHandlers(app, config.bodyLimitBytes);
  // The API takes application/json only: without this, Fastify's built-in text/plain parser hands
  // the route a string, answered as a misleading 400 "body must be a JSON object" instead of 415.
  app.removeContentTypeParser('text/plain');

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    deps.metrics.requests.inc({ route, method: req.method, status: reply.statusCode });
    if (req.method === 'POST' && INGEST_ROUTES.has(route)) {
      deps.metrics.ackLatency.observe({ route }, reply.elapsedTime / 1000);
    }
  });

  // During shutdown, answers close their connection: a keep-alive socket whose request was in flight
  // when close() began would otherwise hold the server open until its keep-alive timeout.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
    const sweep = setInterval(() => app.server.closeIdleConnections(), 50);
    sweep.unref();
    app.server.once('close', () => clearInterval(sweep));
  });
  app.addHook('onRequest', async () => {
    // /v1 answers this as 429 (segment.route.ts), so a restart does not make RudderStack's SDK give up.
    if (closing) throw new SoluteError('SOL_ERR_NOT_READY', [], { retryAfter: config.retryAfterSeconds });
  });
  app.addHook('onSend', async (_req, reply) => {
    if (closing) reply.header('connection', 'close');
  });

  // No body is read before it is wanted: an unknown route and an OPTIONS request (a CORS preflight,
  // answered by @fastify/cors in its onRequest hook; any other is no route) are answered from their
  // headers, and a body they carry is not read: the connection closes after the answer instead.
  app.addHook('onRequest', async function answerBeforeBody(req, reply) {
    const options = req.method === 'OPTIONS';
    if (!options && !req.is404) return;
    if (hasBody(req)) reply.header('connection', 'close');
    if (req.is404 || (options && !CORS_PATHS.has(pathOf(req.url)))) {
      throw new SoluteError('SOL_ERR_ROUTE_NOT_FOUND', [`${req.method} ${pathOf(req.url)}`]);
    }
  });

  const isIngest = (req: FastifyRequest) => INGEST_ROUTES.has(req.routeOptions.url ?? '');
  const inFlight = inFlightLimit({
    maxBytes: config.maxBytesInFlight,
    maxProjectBytes: config.projectMaxBytesInFlight,
    bodyLimit: config.bodyLimitBytes,
    retryAfter: config.retryAfterSeconds,
  });
  app.addHook('onRequest', inFlight.onRequest);
  app.addHook('preParsing', inFlight.preParsing);
  app.addHook('onResponse', inFlight.onResponse);
  app.addHook('onRequestAbort', inFlight.onRequestAbort);

  // Per-project rate limit on every ingest route, as the route's last preHandler: after its auth (on
  // /v1 a preHandler may find the key in the body) and the body parse (the limit counts events).
  const rateLimit = rateLimitHooks({
    maxBatchEvents: config.maxBatchEvents,
    onRefused: (_project, events) => deps.metrics.rateLimited.inc(events), // no project label: /metrics is open
  });
  app.addHook('onRoute', (route) => {
    if (route.method !== 'POST' || !INGEST_ROUTES.has(route.url)) return;
    const count: EventCount = route.url === '/api/events' ? 'batch' : SEGMENT_ROUTES[route.url] === null ? 'segment-batch' : 'one';
    route.preHandler = [...hookList(route.preHandler), rateLimit.preHandler(count)];
    route.onSend = [...hookList(route.onSend), rateLimit.onSend];
  });

  app.register(cors, {
    // Registered at the root, so its onRequest hook runs before the routes' auth hooks (a refusal carries the headers too).
    delegator: (req, cb) => {
      cb(null, CORS_PATHS.has(pathOf(req.url)) && (req.method === 'POST' || req.method === 'OPTIONS') ? CORS_ON : CORS_OFF);
    },
  });

  // After CORS's hook (added when the plugin loads), so that this refusal carries the CORS headers too.
  app.after(() => {
    app.addHook('onRequest', backlogGate({ full: () => !deps.readiness().backlogBelowLimit, retryAfter: config.retryAfterSeconds, isIngest }));
  });

  // Routes are declared in a plugin registered after the OpenAPI generator, so it sees every one of
  // them (it collects routes as they are added); the hooks and handlers above still apply to them.
  registerOpenApi(app);
  app.register(async (api) => {
    // First: its session hook lets the read routes below serve a signed-in console.
    if (deps.console) registerConsole(api, config, { keys: deps.keys, metrics: deps.metrics, console: deps.console });
    healthRoutes(api, deps);
    openApiRoute(api);
    if (deps.acceptBatch) {
      eventsRoute(api, { acceptBatch: deps.acceptBatch, keys: deps.keys, metrics: deps.metrics, maxBatchEvents: config.maxBatchEvents });
      segmentRoutes(api, { acceptBatch: deps.acceptBatch, keys: deps.keys, metrics: deps.metrics, bodyLimitBytes: config.bodyLimitBytes });
    }
    if (deps.store) queryEventsRoute(api, { store: deps.store, keys: deps.keys });
    if (deps.profiles) profileRoutes(api, { profiles: deps.profiles, keys: deps.keys });
    if (deps.stats) statsRoutes(api, { stats: deps.stats, keys: deps.keys });
  });
  return app;
}

function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

function hookList<T>(hooks: T | T[] | undefined): T[] {
  return hooks === undefined ? [] : Array.isArray(hooks) ? hooks : [hooks];
}
