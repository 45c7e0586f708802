// Liveness, readiness and metrics.
import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../../metrics.js';

export type Readiness = () => Record<string, boolean>;

export function healthRoutes(app: FastifyInstance, deps: { readiness: Readiness; metrics: Metrics }) {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const checks = deps.readiness();
    const ready = Object.values(checks).every(Boolean);
    return reply.code(ready ? 200 : 503).send({ ready, checks });
  });
  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });
}
