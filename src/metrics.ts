// Prometheus metrics, one registry per server instance (tests build several in one process).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { LoadResult } from './contracts/event-store.js';
import { warningBound } from './warnings.js';

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
    // No project label, here or on any metric: /metrics needs no key, so it must not name projects.
    rejected: new Counter({
      name: 'solute_events_rejected_total',
      help: 'Events rejected as invalid, by error code (SOL_ERR_EVENT_INVALID, SOL_ERR_EVENT_TOO_LARGE)',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
    rateLimited: new Counter({
      name: 'solute_events_rate_limited_total',
      help: 'Events refused (whole requests, 429) by a project rate limit, all projects together',
      registers: [registry],
    }),
    duplicates: new Counter({ name: 'solute_events_duplicate_total', help: 'Accepted events recognised as already received', registers: [registry] }),
    stored: new Counter({ name: 'solute_events_stored_total', help: 'Events made queryable by the processor', registers: [registry] }),
    deadLetters: new Counter({ name: 'solute_dead_letters_total', help: 'Events the processor could not store', registers: [registry] }),
    connectionsRefused: new Counter({
      name: 'solute_connections_refused_total',
      help: 'Connections closed at once because every slot was taken (max) or their peer IP held its share (per-ip), no idle one to close',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    // No project label: /metrics names no project (a scrape must not list customers).
    stateBounds: new Counter({
      name: 'solute_state_bounds_applied_total',
      help: 'Events whose change to a profile or group was not applied (in part) because of a bound, by bound and kind',
      labelNames: ['bound', 'kind'] as const,
      registers: [registry],
    }),
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
    /** Counts what the processor did with one batch: stored, dead letters, bounds applied, time. */
    loaded(result: LoadResult, seconds: number) {
      this.stored.inc(result.stored);
      this.deadLetters.inc(result.deadLettered);
      for (const w of result.warnings ?? []) {
        const bound = warningBound(w.kind);
        if (bound !== null) this.stateBounds.inc({ bound, kind: w.subject });
      }
      this.segmentLoad.observe(seconds);
    },
    /** Counts a request's per-event errors under their codes. */
    countRejected(errors: ReadonlyArray<{ code: string }>) {
      for (const e of errors) m.rejected.inc({ code: e.code });
    },
    /** Cluster mode: how far the processors are behind the JetStream stream. */
    observeConsumer(src: { lagMessages: () => number; lagSeconds: () => number }) {
      new Gauge({
        name: 'solute_consumer_lag_messages',
        help: 'JetStream messages (requests) not yet stored: waiting for a processor, or handed to one and not acknowledged',
        registers: [registry],
        collect() {
          this.set(src.lagMessages());
        },
      });
      new Gauge({
        name: 'solute_consumer_lag_seconds',
        help: 'Age of the oldest JetStream message not yet stored (0 when none)',
        registers: [registry],
        collect() {
          this.set(src.lagSeconds());
        },
      });
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
  // Every bound and kind from the start at 0, so a rate over them is defined before the first warning.
  for (const bound of ['traits', 'traits_bytes']) for (const kind of ['profile', 'group']) m.stateBounds.inc({ bound, kind }, 0);
  for (const bound of ['linked_ids', 'linked_ids_bytes']) m.stateBounds.inc({ bound, kind: 'profile' }, 0);
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;
