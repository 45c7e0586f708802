// Health of the server serving the console, from its own metrics (GET /api/console/health), every
// 5 s: acknowledgement latency (since start, and over the last minute from the difference of two
// readings), the processing backlog, events by outcome, rejected events by code.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from './api.js';
import { bytes, ms, num } from './format.js';

interface Health {
  at: string;
  uptimeSeconds: number | null;
  residentMemoryBytes: number;
  ackLatency: { count: number; sumSeconds: number; buckets: Array<{ le: number | null; count: number }>; p50: number | null; p95: number | null; p99: number | null };
  backlog: number;
  events: { accepted: number; duplicates: number; rateLimited: number; stored: number; deadLettered: number };
  rejected: Array<{ code: string; count: number }>;
  live: { subscribers: number; dropped: number };
}

/** The q-quantile of cumulative buckets (as the server computes it), here over a difference of two readings. */
function quantile(q: number, buckets: Array<{ le: number; count: number }>): number | null {
  const total = buckets.at(-1)?.count ?? 0;
  if (total === 0) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of buckets) {
    if (b.count >= rank) {
      if (!Number.isFinite(b.le)) return prevLe;
      const inBucket = b.count - prevCount;
      return inBucket === 0 ? b.le : prevLe + ((b.le - prevLe) * (rank - prevCount)) / inBucket;
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}

function windowed(now: Health, then: Health | undefined) {
  if (!then) return null;
  const b = now.ackLatency.buckets.map((x, i) => ({ le: x.le ?? Infinity, count: x.count - (then.ackLatency.buckets[i]?.count ?? 0) }));
  const count = now.ackLatency.count - then.ackLatency.count;
  return { count, p50: quantile(0.5, b), p95: quantile(0.95, b), p99: quantile(0.99, b), seconds: Math.round((Date.parse(now.at) - Date.parse(then.at)) / 1000) };
}

export function HealthView() {
  const [h, setH] = useState<Health | null>(null);
  const [error, setError] = useState('');
  const history = useRef<Health[]>([]);
  useEffect(() => {
    let stop = false;
    let timer: ReturnType<typeof setTimeout>;
    const poll = async () => {
      try {
        const r = await api<Health>('api/console/health');
        if (stop) return;
        history.current = [...history.current, r].slice(-13); // a minute of readings at 5 s
        setH(r);
        setError('');
      } catch (e) {
        if (!stop) setError((e as Error).message);
      }
      if (!stop) timer = setTimeout(poll, 5000);
    };
    void poll();
    return () => {
      stop = true;
      clearTimeout(timer);
    };
  }, []);
  const w = h ? windowed(h, history.current.length > 1 ? history.current[0] : undefined) : null;

  return (
    <section class="view" aria-labelledby="health-title">
      <div class="view-head">
        <h1 id="health-title">Health</h1>
        <p class="help">This server process, from its own metrics; refreshed every 5 s.</p>
      </div>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {h && (
        <>
          <div class="tiles">
            <div class="tile">
              <span class="tile-label">Ack latency p50 / p95 / p99 (since start)</span>
              <span class="tile-value" data-testid="ack-latency">
                {ms(h.ackLatency.p50)} / {ms(h.ackLatency.p95)} / {ms(h.ackLatency.p99)}
              </span>
              <span class="help">{num(h.ackLatency.count)} requests</span>
            </div>
            <div class="tile">
              <span class="tile-label">Ack latency p50 / p95 / p99 (last {w ? `${w.seconds} s` : 'minute'})</span>
              <span class="tile-value">{w && w.count > 0 ? `${ms(w.p50)} / ${ms(w.p95)} / ${ms(w.p99)}` : '–'}</span>
              <span class="help">{w ? `${num(w.count)} requests` : 'after the next reading'}</span>
            </div>
            <div class="tile">
              <span class="tile-label">Backlog (acknowledged, not yet stored)</span>
              <span class="tile-value" data-testid="backlog">
                {num(h.backlog)}
              </span>
            </div>
          </div>
          <div class="two">
            <div class="card">
              <h2>Events since start</h2>
              <table>
                <tbody>
                  {(
                    [
                      ['accepted', h.events.accepted],
                      ['duplicates', h.events.duplicates],
                      ['stored', h.events.stored],
                      ['dead letters', h.events.deadLettered],
                      ['rate-limited', h.events.rateLimited],
                    ] as const
                  ).map(([k, v]) => (
                    <tr key={k}>
                      <th scope="row">{k}</th>
                      <td class="n">{num(v)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <div class="card">
              <h2>Rejected events by code</h2>
              {h.rejected.length === 0 ? (
                <p class="help">None since start.</p>
              ) : (
                <table data-testid="rejected">
                  <tbody>
                    {h.rejected.map((r) => (
                      <tr key={r.code}>
                        <th scope="row">
                          <code>{r.code}</code>
                        </th>
                        <td class="n">{num(r.count)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </div>
          </div>
          <p class="help">
            Up {h.uptimeSeconds === null ? '–' : `${Math.floor(h.uptimeSeconds / 3600)} h ${Math.floor((h.uptimeSeconds % 3600) / 60)} min`} · memory {bytes(h.residentMemoryBytes)} · live views{' '}
            {h.live.subscribers} · live events not sent {num(h.live.dropped)}
          </p>
        </>
      )}
    </section>
  );
}
