// Prometheus metrics, one registry per server instance (tests build several in one process).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface MetricSources {
  backlog: () => number;
  dedupeKeys: () => number;
  dedupeBytes: () => number;
}

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'solute_' });
  const m = {
    registry,
    requests: new Counter({
      name: 'solute_http_requests_total',
      help: 'HTTP requests by route, method and status',
      labelNames: ['route', 'method', 'status'] as const,
      registers: [registry],
    }),
    accepted: new Counter({ name: 'solute_events_accepted_total', help: 'Events accepted (acknowledged), duplicates included', registers: [registry] }),
    rejected: new Counter({
      name: 'solute_events_rejected_total',
      help: 'Events rejected as invalid, by error code (SOL_ERR_EVENT_INVALID, SOL_ERR_EVENT_TOO_LARGE)',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
    rateLimited: new Counter({
      name: 'solute_events_rate_limited_total',
      help: 'Events refused (whole requests, 429) by a project rate limit, by project',
      labelNames: ['project'] as const,
      registers: [registry],
    }),
    duplicates: new Counter({ name: 'solute_events_duplicate_total', help: 'Accepted events recognised as already received', registers: [registry] }),
    stored: new Counter({ name: 'solute_events_stored_total', help: 'Events made queryable by the processor', registers: [registry] }),
    deadLetters: new Counter({ name: 'solute_dead_letters_total', help: 'Events the processor could not store', registers: [registry] }),
    ackLatency: new Histogram({
      name: 'solute_ack_latency_seconds',
      help: 'Time from request start to the answer on ingest routes (includes the fsync)',
      labelNames: ['route'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    segmentLoad: new Histogram({
      name: 'solute_segment_load_seconds',
      help: 'Time to store one closed log segment',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    /** Counts a request's per-event errors under their codes. */
    countRejected(errors: ReadonlyArray<{ code: string }>) {
      for (const e of errors) m.rejected.inc({ code: e.code });
    },
    /** Wires the gauges that read live state. */
    observe(src: MetricSources) {
      new Gauge({
        name: 'solute_processing_backlog_events',
        help: 'Events acknowledged but not yet stored',
        registers: [registry],
        collect() {
          this.set(src.backlog());
        },
      });
      new Gauge({
        name: 'solute_dedupe_keys',
        help: 'Slots in use in the dedupe index (live keys plus not yet reclaimed expired ones)',
        registers: [registry],
        collect() {
          this.set(src.dedupeKeys());
        },
      });
      new Gauge({
        name: 'solute_dedupe_index_bytes',
        help: 'Memory held by the dedupe index',
        registers: [registry],
        collect() {
          this.set(src.dedupeBytes());
        },
      });
    },
  };
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;
