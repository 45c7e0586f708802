// Retention: users who did a start event in a day or week (a cohort), and how many of them did the
// return event in each of the following periods, from GET /api/stats/retention, as the classic
// cohort table (each rate shaded by its size).
import { useMemo, useState } from 'preact/hooks';
import { api } from './api.js';
import { EventNames, ZoneField, addDays, browserZone, dayStartIn, useEventNames, zoneToday } from './fields.js';
import { num, pct } from './format.js';

type Period = 'day' | 'week';
interface Retention {
  startEvent: string;
  returnEvent: string;
  period: Period;
  periods: number;
  tz: string;
  from: string;
  to: string;
  cohorts: Array<{ start: string; users: number; returned: number[]; retention: Array<number | null> }>;
}

/** The default range of a period: the last 7 days, or this week and the 7 before it (from a Monday). */
function defaultFrom(today: string, period: Period): string {
  if (period === 'day') return addDays(today, -6);
  const monday = addDays(today, -((new Date(`${today}T00:00:00Z`).getUTCDay() + 6) % 7));
  return addDays(monday, -7 * 7);
}

/** A cohort's label from the local date its start is written with (YYYY-MM-DD, in the answer's zone). */
function cohortLabel(day: string, period: Period): string {
  const d = new Date(`${day}T00:00:00Z`).toLocaleDateString(undefined, { timeZone: 'UTC', weekday: period === 'day' ? 'short' : undefined, day: 'numeric', month: 'short', year: 'numeric' });
  return period === 'week' ? `Week of ${d}` : d;
}

/** 0..10: the shade of a rate, in tenths (at least 1 for any rate above 0). */
const shade = (r: number) => (r > 0 ? Math.max(1, Math.round(r * 10)) : 0);

function CohortTable({ r, at }: { r: Retention; at: number }) {
  const unit = r.period === 'day' ? 'Day' : 'Week';
  const days = r.period === 'day' ? 1 : 7;
  const ks = Array.from({ length: r.periods }, (_, i) => i + 1);
  return (
    <div class="table-scroll">
      <table class="cohorts" data-testid="cohorts" aria-describedby="rt-legend">
        <thead>
          <tr>
            <th scope="col">cohort ({r.period})</th>
            <th scope="col" class="n">
              users
            </th>
            {ks.map((k) => (
              <th scope="col" class="n" key={k}>
                {unit} {k}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {r.cohorts.map((c) => {
            const day = c.start.slice(0, 10);
            return (
              <tr key={c.start} data-testid="cohort" data-start={c.start}>
                <th scope="row">{cohortLabel(day, r.period)}</th>
                <td class="n" data-testid="cohort-users">
                  {num(c.users)}
                </td>
                {c.users === 0 ? (
                  <td colSpan={r.periods} class="help empty-cohort">
                    Empty cohort: nobody did “{r.startEvent}” in this {r.period}.
                  </td>
                ) : (
                  ks.map((k) => {
                    const rate = c.retention[k - 1] ?? 0;
                    // A period that has not started yet counts 0 until it happens: shown blank, not as 0%.
                    if (dayStartIn(r.tz, addDays(day, k * days)) > at) {
                      return (
                        <td key={k} class="n future">
                          <span class="sr-only">not yet</span>
                        </td>
                      );
                    }
                    return (
                      <td key={k} class={`n shade shade-${shade(rate)}`} title={`${num(c.returned[k - 1])} of ${num(c.users)} users`}>
                        {pct(rate)}
                      </td>
                    );
                  })
                )}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

export function RetentionView() {
  const [tz, setTz] = useState(browserZone());
  const [startEvent, setStartEvent] = useState('');
  const [returnEvent, setReturnEvent] = useState('');
  const [period, setPeriod] = useState<Period>('day');
  const [periods, setPeriods] = useState('7');
  const [toDay, setToDay] = useState(() => zoneToday(browserZone()));
  const [fromDay, setFromDay] = useState(() => defaultFrom(zoneToday(browserZone()), 'day'));
  const [datesTouched, setDatesTouched] = useState(false);
  const [result, setResult] = useState<{ r: Retention; at: number } | null>(null);
  const [error, setError] = useState('');
  const [loading, setLoading] = useState(false);

  // [from, to) in the zone: from the first day's start to the start of the day after the last.
  const bounds = useMemo(() => ({ from: dayStartIn(tz, fromDay), to: dayStartIn(tz, addDays(toDay, 1)) }), [tz, fromDay, toDay]);
  const names = useEventNames(bounds.from, bounds.to);

  function pickPeriod(p: Period) {
    setPeriod(p);
    if (!datesTouched) {
      const today = zoneToday(tz);
      setToDay(today);
      setFromDay(defaultFrom(today, p));
    }
  }

  async function submit(e: Event) {
    e.preventDefault();
    setError('');
    const fail = (message: string) => (setResult(null), setError(message));
    if (!Number.isFinite(bounds.from) || !Number.isFinite(bounds.to)) return fail('Choose a first and a last day.');
    if (bounds.from >= bounds.to) return fail('Choose a first day on or before the last day.');
    setLoading(true);
    try {
      const r = await api<Retention>('api/stats/retention', {
        query: {
          startEvent: startEvent.trim(),
          returnEvent: returnEvent.trim() || undefined,
          from: new Date(bounds.from).toISOString(),
          to: new Date(bounds.to).toISOString(),
          period,
          periods: periods.trim(),
          tz,
        },
      });
      setResult({ r, at: Date.now() });
    } catch (err) {
      fail((err as Error).message);
    } finally {
      setLoading(false);
    }
  }

  const r = result?.r;
  return (
    <section class="view" aria-labelledby="retention-title">
      <div class="view-head">
        <h1 id="retention-title">Retention</h1>
        <p class="help">Users who did the start event in a {period} (a cohort), and the share of them who did the return event in each {period} after.</p>
      </div>
      <form class="card" onSubmit={submit} aria-label="Retention">
        <EventNames id="rt-event-names" names={names} />
        <div class="filters">
          <div class="field field-wide">
            <label for="rt-start">Start event</label>
            <input id="rt-start" list="rt-event-names" value={startEvent} onInput={(e) => setStartEvent((e.target as HTMLInputElement).value)} required maxLength={1024} autocomplete="off" placeholder="e.g. Signed Up" />
          </div>
          <div class="field field-wide">
            <label for="rt-return">Return event (optional)</label>
            <input
              id="rt-return"
              list="rt-event-names"
              value={returnEvent}
              onInput={(e) => setReturnEvent((e.target as HTMLInputElement).value)}
              maxLength={1024}
              autocomplete="off"
              placeholder="the start event"
            />
          </div>
        </div>
        <div class="filters">
          <div class="field">
            <label for="rt-from">First day</label>
            <input id="rt-from" type="date" required value={fromDay} onChange={(e) => (setFromDay((e.target as HTMLInputElement).value), setDatesTouched(true))} />
          </div>
          <div class="field">
            <label for="rt-to">Last day</label>
            <input id="rt-to" type="date" required value={toDay} onChange={(e) => (setToDay((e.target as HTMLInputElement).value), setDatesTouched(true))} />
          </div>
          <div class="field field-narrow">
            <label for="rt-period">Period</label>
            <select id="rt-period" value={period} onChange={(e) => pickPeriod((e.target as HTMLSelectElement).value as Period)}>
              <option value="day">day</option>
              <option value="week">week</option>
            </select>
          </div>
          <div class="field field-narrow">
            <label for="rt-periods">Periods after</label>
            <input id="rt-periods" type="number" min="1" max="52" step="1" required value={periods} onInput={(e) => setPeriods((e.target as HTMLInputElement).value)} />
          </div>
          <ZoneField id="rt-tz" value={tz} onChange={setTz} />
          <div class="actions">
            <button type="submit" disabled={loading}>
              {loading ? 'Loading…' : 'Show retention'}
            </button>
          </div>
        </div>
        <p class="help">Days are calendar days of the time zone; weeks start on Monday. A user who did the start event in several {period}s is in each of those cohorts.</p>
      </form>
      <p class="help" role="status">
        {loading ? 'Loading the cohorts…' : ''}
      </p>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {r && result && !loading && (
        <div class="card" data-testid="retention" data-from={r.from} data-to={r.to} data-tz={r.tz} data-period={r.period} data-periods={r.periods} data-start-event={r.startEvent} data-return-event={r.returnEvent}>
          <h2>
            {r.cohorts.length} cohort{r.cohorts.length === 1 ? '' : 's'}: “{r.startEvent}”, then “{r.returnEvent}”
          </h2>
          <p class="help" id="rt-legend">
            Each cell: the share of the cohort's users who did “{r.returnEvent}” in that {r.period} after their cohort's ({r.tz}); darker is more. Hatched: that{' '}
            {r.period} has not started yet.
          </p>
          <CohortTable r={r} at={result.at} />
        </div>
      )}
    </section>
  );
}
