// buildApp: the HTTP edge, without listening (main.ts listens; tests use it in-process or on port 0).
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { KeyResolver } from '../contracts/key-store.js';
import type { EventStore } from '../contracts/event-store.js';
import type { Metrics } from '../metrics.js';
import type { AcceptBatch } from './accept-batch.js';
import { installErrorHandlers } from './error-handler.js';
import { SoluteError } from '../errors.js';
import { eventsRoute } from './routes/events.route.js';
import { healthRoutes, type Readiness } from './routes/health.route.js';
import { queryEventsRoute } from '../query/events.route.js';

export interface AppDeps {
  logger: Logger;
  keys: KeyResolver;
  metrics: Metrics;
  readiness: Readiness;
  /** Absent in a processor-only process. */
  acceptBatch?: AcceptBatch;
  /** Absent in an ingest-only process. */
  store?: Pick<EventStore, 'queryEvents'>;
}

const INGEST_ROUTES = new Set(['/api/events']);

export function buildApp(config: Config, deps: AppDeps): FastifyInstance {
  const app: FastifyInstance = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }), // one line per event of note, not per request
    bodyLimit: config.bodyLimitBytes,
    requestIdHeader: false,
    return503OnClosing: false, // answered below, in our error format with Retry-After
    forceCloseConnections: 'idle',
    ajv: { customOptions: { removeAdditional: false, coerceTypes: true, useDefaults: true, allErrors: false } },
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
    if (closing) throw new SoluteError('SOL_ERR_NOT_READY', [], { retryAfter: config.retryAfterSeconds });
  });
  app.addHook('onSend', async (_req, reply) => {
    if (closing) reply.header('connection', 'close');
  });

  healthRoutes(app, deps);
  if (deps.acceptBatch) eventsRoute(app, { acceptBatch: deps.acceptBatch, keys: deps.keys, metrics: deps.metrics });
  if (deps.store) queryEventsRoute(app, { store: deps.store, keys: deps.keys });
  return app;
}
