// Overview: events and distinct users per hour or day in a time zone, top events and top pages, for
// a time range. Totals come from the same API the figures come from (GET /api/stats/events).
import { useEffect, useMemo, useState } from 'preact/hooks';
import { ApiError, api } from './api.js';
import { Chart, type Bucket } from './chart.js';
import { dateTime, num } from './format.js';
import { HOUR, RangeFields, ZoneField, browserZone, rangeBounds, useRange, type RangeId } from './fields.js';

interface Stats {
  buckets: Bucket[];
  total: { count: number; users: number };
  from: string;
  to: string;
}
interface Top {
  events: Array<{ event: string; count: number; users: number }>;
}
interface TopPages {
  pages: Array<{ path: string; count: number; users: number }>;
}

/** A table of names with their events and distinct users: the top events, the top pages. */
function CountTable({ label, rows, testId }: { label: string; rows: Array<{ name: string; count: number; users: number }>; testId?: string }) {
  return (
    <table data-testid={testId}>
      <thead>
        <tr>
          <th scope="col">{label}</th>
          <th scope="col" class="n">
            events
          </th>
          <th scope="col" class="n">
            users
          </th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr key={r.name}>
            <td>{r.name}</td>
            <td class="n">{num(r.count)}</td>
            <td class="n">{num(r.users)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function OverviewView() {
  const rangeState = useRange('24h');
  const { range, customFrom, customTo } = rangeState;
  const [interval, setInterval_] = useState<'hour' | 'day'>('hour');
  const [tz, setTz] = useState(browserZone());
  const [tick, setTick] = useState(0);
  const [stats, setStats] = useState<Stats | null>(null);
  const [top, setTop] = useState<Top | null>(null);
  const [pages, setPages] = useState<TopPages | 'missing' | null>(null);
  const [error, setError] = useState('');
  const [loading, setLoading] = useState(false);

  const bounds = useMemo(() => rangeBounds(range, customFrom, customTo), [range, customFrom, customTo, tick]);

  const tooLong = interval === 'hour' && bounds.to - bounds.from > 31 * 24 * HOUR;

  useEffect(() => {
    if (!Number.isFinite(bounds.from) || !Number.isFinite(bounds.to) || bounds.from >= bounds.to) {
      setError('Choose a start before the end.');
      return;
    }
    if (tooLong) return;
    const from = new Date(bounds.from).toISOString();
    const to = new Date(bounds.to).toISOString();
    let stop = false;
    setLoading(true);
    setError('');
    Promise.all([
      api<Stats>('api/stats/events', { query: { from, to, interval, tz } }),
      api<Top>('api/stats/top-events', { query: { from, to, limit: 10 } }),
      api<TopPages>('api/stats/top-pages', { query: { from, to, limit: 10 } }).catch((e: ApiError) => (e.routeMissing ? ('missing' as const) : Promise.reject(e))),
    ])
      .then(([s, t, p]) => {
        if (stop) return;
        setStats(s);
        setTop(t);
        setPages(p);
      })
      .catch((e: Error) => !stop && setError(e.message))
      .finally(() => !stop && setLoading(false));
    return () => {
      stop = true;
    };
  }, [bounds, interval, tz, tooLong]);

  function pickRange(r: RangeId) {
    rangeState.setRange(r);
    if (r === '30d') setInterval_('day');
    if (r === '24h') setInterval_('hour');
  }

  return (
    <section class="view" aria-labelledby="overview-title">
      <div class="view-head">
        <h1 id="overview-title">Overview</h1>
        <button type="button" class="secondary" onClick={() => setTick(tick + 1)} disabled={loading}>
          {loading ? 'Loading…' : 'Refresh'}
        </button>
      </div>
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Time range">
        <RangeFields prefix="ov" state={rangeState} onRange={pickRange} />
        <div class="field">
          <label for="ov-interval">Per</label>
          <select id="ov-interval" value={interval} onChange={(e) => setInterval_((e.target as HTMLSelectElement).value as 'hour' | 'day')}>
            <option value="hour">hour</option>
            <option value="day">day</option>
          </select>
        </div>
        <ZoneField id="ov-tz" value={tz} onChange={setTz} />
      </form>
      {tooLong && <p class="notice">Hourly figures cover at most 31 days: choose “day”, or a shorter range.</p>}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {stats && (
        <div data-testid="overview" data-from={stats.from} data-to={stats.to} data-tz={tz} data-interval={interval}>
          <p class="help">
            {dateTime(stats.from, tz)} – {dateTime(stats.to, tz)} ({tz})
          </p>
          <div class="tiles">
            <div class="tile">
              <span class="tile-label">Events</span>
              <span class="tile-value" data-testid="total-events">
                {num(stats.total.count)}
              </span>
            </div>
            <div class="tile">
              <span class="tile-label">Distinct users</span>
              <span class="tile-value" data-testid="total-users">
                {num(stats.total.users)}
              </span>
            </div>
          </div>
          <Chart buckets={stats.buckets} interval={interval} tz={tz} />
          <div class="two">
            <div class="card">
              <h2>Top events</h2>
              {top && top.events.length > 0 ? (
                <CountTable label="event" rows={top.events.map((e) => ({ name: e.event, count: e.count, users: e.users }))} testId="top-events" />
              ) : (
                <p class="help">No named events in this range.</p>
              )}
            </div>
            <div class="card">
              <h2>Top pages</h2>
              {pages === 'missing' ? (
                <p class="help" data-testid="top-pages-missing">
                  Not available on this server (it has no <code>/api/stats/top-pages</code> route).
                </p>
              ) : pages && pages.pages.length > 0 ? (
                <CountTable label="context.page.path" rows={pages.pages.map((p) => ({ name: p.path, count: p.count, users: p.users }))} testId="top-pages" />
              ) : (
                <p class="help" data-testid="top-pages-none">No pages in this range.</p>
              )}
            </div>
          </div>
        </div>
      )}
    </section>
  );
}
