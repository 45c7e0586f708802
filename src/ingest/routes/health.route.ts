// Liveness, readiness and metrics.
import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../../metrics.js';

export type Readiness = () => Record<string, boolean>;

export function healthRoutes(app: FastifyInstance, deps: { readiness: Readiness; metrics: Metrics }) {
  app.get('/healthz', { schema: { summary: 'Liveness: the process answers' } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { summary: 'Readiness: 200 when every check passes, else 503' } }, async (_req, reply) => {
    const checks = deps.readiness();
    const ready = Object.values(checks).every(Boolean);
    return reply.code(ready ? 200 : 503).send({ ready, checks });
  });
  app.get('/metrics', { schema: { summary: 'Prometheus metrics (text format)' } }, async (_req, reply) => {
    reply.header('content-type', deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });
}
