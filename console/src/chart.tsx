// Events and distinct users per bucket, drawn as SVG (bars for events, a line for users, one y axis:
// a bucket's users never exceed its events). No chart library: this is the one chart, and SVG needs
// no inline styles (the page's CSP has none). A table of the same figures follows for screen readers.
export interface Bucket {
  start: string;
  count: number;
  users: number;
}

const W = 1100;
const H = 260;
const PAD = { l: 44, r: 8, t: 10, b: 28 };

function niceMax(v: number): number {
  if (v <= 5) return 5;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

export function Chart({ buckets, interval, tz }: { buckets: Bucket[]; interval: 'hour' | 'day'; tz: string }) {
  const n = buckets.length;
  const max = niceMax(Math.max(1, ...buckets.map((b) => b.count)));
  const iw = W - PAD.l - PAD.r;
  const ih = H - PAD.t - PAD.b;
  const bw = n > 0 ? iw / n : iw;
  const y = (v: number) => PAD.t + ih - (v / max) * ih;
  const label = (iso: string) => {
    const d = new Date(iso);
    return interval === 'hour'
      ? d.toLocaleString(undefined, { timeZone: tz, hour: '2-digit', minute: '2-digit', hour12: false, ...(n > 24 ? { day: 'numeric', month: 'short' } : {}) })
      : d.toLocaleDateString(undefined, { timeZone: tz, day: 'numeric', month: 'short' });
  };
  const step = Math.max(1, Math.ceil(n / 6));
  const total = buckets.reduce((a, b) => a + b.count, 0);
  const points = buckets.map((b, i) => `${(PAD.l + i * bw + bw / 2).toFixed(1)},${y(b.users).toFixed(1)}`).join(' ');
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`Events per ${interval}: ${total} in ${n} buckets, at most ${Math.max(0, ...buckets.map((b) => b.count))} in one`}>
        {[0, 0.5, 1].map((f) => (
          <g key={f}>
            <line class="grid" x1={PAD.l} x2={W - PAD.r} y1={y(max * f)} y2={y(max * f)} />
            <text class="axis" x={PAD.l - 6} y={y(max * f) + 4} text-anchor="end">
              {(max * f).toLocaleString()}
            </text>
          </g>
        ))}
        {buckets.map((b, i) =>
          b.count > 0 ? (
            <rect key={b.start} class="bar" x={PAD.l + i * bw + Math.min(1, bw * 0.1)} width={Math.max(1, bw - 2 * Math.min(1, bw * 0.1))} y={y(b.count)} height={PAD.t + ih - y(b.count)}>
              <title>{`${label(b.start)}: ${b.count} events, ${b.users} users`}</title>
            </rect>
          ) : null,
        )}
        {n > 1 && <polyline class="users-line" points={points} />}
        {buckets.map((b, i) =>
          i % step === 0 ? (
            <text key={`l${b.start}`} class="axis" x={PAD.l + i * bw + bw / 2} y={H - 8} text-anchor="middle">
              {label(b.start)}
            </text>
          ) : null,
        )}
      </svg>
      <figcaption>
        <span class="legend legend-bar" aria-hidden="true" /> events <span class="legend legend-line" aria-hidden="true" /> distinct users, per {interval} ({tz})
      </figcaption>
      <details>
        <summary>Show as a table</summary>
        <table>
          <thead>
            <tr>
              <th scope="col">{interval}</th>
              <th scope="col">events</th>
              <th scope="col">users</th>
            </tr>
          </thead>
          <tbody>
            {buckets.map((b) => (
              <tr key={b.start}>
                <td>{b.start}</td>
                <td>{b.count}</td>
                <td>{b.users}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}
