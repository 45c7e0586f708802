// GET /api/console/health: the console's health view, read from this process's own Prometheus
// registry (the figures /metrics shows, summed over their labels): acknowledgement latency, the
// processing backlog, events by outcome, rejected events by code. In a cluster each process has its
// own; this is the one serving the console.
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { KeyResolver } from '../contracts/key-store.js';
import { secretKeyHook } from '../ingest/hooks/auth.hook.js';
import { SECURITY } from '../ingest/openapi.js';
import { CONSOLE_SECURITY } from './session.js';

type Values = Array<{ value: number; labels: Record<string, string | number>; metricName?: string }>;

async function values(registry: Registry, name: string): Promise<Values> {
  const m = registry.getSingleMetric(name);
  return m ? ((await m.get()).values as Values) : [];
}

const sum = (v: Values) => v.reduce((a, x) => a + x.value, 0);

/** The q-quantile from cumulative histogram buckets, interpolated inside its bucket as Prometheus' histogram_quantile does. */
export function quantile(q: number, buckets: Array<{ le: number; count: number }>): number | null {
  const total = buckets.at(-1)?.count ?? 0;
  if (total === 0) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of buckets) {
    if (b.count >= rank) {
      if (!Number.isFinite(b.le)) return prevLe; // in the +Inf bucket: the highest finite bound
      const inBucket = b.count - prevCount;
      return inBucket === 0 ? b.le : prevLe + ((b.le - prevLe) * (rank - prevCount)) / inBucket;
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}

export async function healthOf(registry: Registry, live: { subscribers: number } | null) {
  const latency = await values(registry, 'solute_ack_latency_seconds');
  const byLe = new Map<number, number>();
  let count = 0;
  let total = 0;
  for (const v of latency) {
    if (v.metricName?.endsWith('_bucket')) {
      const le = v.labels.le === '+Inf' ? Infinity : Number(v.labels.le);
      byLe.set(le, (byLe.get(le) ?? 0) + v.value);
    } else if (v.metricName?.endsWith('_count')) count += v.value;
    else if (v.metricName?.endsWith('_sum')) total += v.value;
  }
  const buckets = [...byLe.entries()].sort((a, b) => a[0] - b[0]).map(([le, c]) => ({ le, count: c }));
  const rejected = new Map<string, number>();
  for (const v of await values(registry, 'solute_events_rejected_total')) {
    const code = String(v.labels.code ?? 'unknown');
    rejected.set(code, (rejected.get(code) ?? 0) + v.value);
  }
  const uptime = sum(await values(registry, 'solute_process_start_time_seconds'));
  return {
    at: new Date().toISOString(),
    uptimeSeconds: uptime > 0 ? Math.round(Date.now() / 1000 - uptime) : null,
    residentMemoryBytes: sum(await values(registry, 'solute_process_resident_memory_bytes')),
    ackLatency: {
      count,
      sumSeconds: total,
      // JSON has no Infinity: the last bucket's bound is written as null.
      buckets: buckets.map((b) => ({ le: Number.isFinite(b.le) ? b.le : null, count: b.count })),
      p50: quantile(0.5, buckets),
      p95: quantile(0.95, buckets),
      p99: quantile(0.99, buckets),
    },
    backlog: sum(await values(registry, 'solute_processing_backlog_events')),
    events: {
      accepted: sum(await values(registry, 'solute_events_accepted_total')),
      duplicates: sum(await values(registry, 'solute_events_duplicate_total')),
      rateLimited: sum(await values(registry, 'solute_events_rate_limited_total')),
      stored: sum(await values(registry, 'solute_events_stored_total')),
      deadLettered: sum(await values(registry, 'solute_dead_letters_total')),
    },
    rejected: [...rejected.entries()].map(([code, n]) => ({ code, count: n })).sort((a, b) => b.count - a.count),
    live: { subscribers: live?.subscribers ?? 0, dropped: sum(await values(registry, 'solute_live_events_dropped_total')) },
  };
}

export function healthRoute(app: FastifyInstance, deps: { registry: Registry; keys: KeyResolver; live: { subscribers: number } | null }): void {
  app.get(
    '/api/console/health',
    {
      onRequest: secretKeyHook(deps.keys),
      schema: { summary: "This process's health from its own metrics: ack latency, backlog, events by outcome, rejected by code", security: [...SECURITY.secret, ...CONSOLE_SECURITY] },
    },
    async () => healthOf(deps.registry, deps.live),
  );
}
