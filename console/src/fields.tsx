// Form fields the stats views share: a time range (presets or two local date-times), a time zone,
// calendar days in a time zone, and event names to suggest (the range's top events, in a <datalist>).
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api } from './api.js';

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;

export type RangeId = '24h' | '7d' | '30d' | 'custom';
export const RANGES: Array<[RangeId, string, number]> = [
  ['24h', 'Last 24 hours', 24],
  ['7d', 'Last 7 days', 24 * 7],
  ['30d', 'Last 30 days', 24 * 30],
  ['custom', 'Custom', 0],
];

export function browserZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

function zones(): string[] {
  const list = (Intl as unknown as { supportedValuesOf?: (k: string) => string[] }).supportedValuesOf?.('timeZone') ?? [];
  return [...new Set(['UTC', browserZone(), ...list])];
}

/** A datetime-local value (the browser's local time) for an instant. */
export function localInput(ms: number): string {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

/** [from, to) in epoch ms: a preset ending at the next whole minute (the current one included), or the custom inputs. */
export function rangeBounds(range: RangeId, customFrom: string, customTo: string): { from: number; to: number } {
  if (range === 'custom') return { from: new Date(customFrom).getTime(), to: new Date(customTo).getTime() };
  const hours = RANGES.find((r) => r[0] === range)![2];
  const to = Math.ceil(Date.now() / 60_000) * 60_000;
  return { from: to - hours * HOUR, to };
}

/** The range's state: a preset, or custom local date-times (prefilled with the last 7 days). */
export function useRange(initial: RangeId) {
  const [range, setRange] = useState<RangeId>(initial);
  const [customFrom, setCustomFrom] = useState(() => localInput(Date.now() - 7 * DAY));
  const [customTo, setCustomTo] = useState(() => localInput(Date.now()));
  return { range, setRange, customFrom, setCustomFrom, customTo, setCustomTo };
}

/** The range select and, for "Custom", its two local date-time inputs. `prefix` makes the ids unique. */
export function RangeFields({ prefix, state, onRange }: { prefix: string; state: ReturnType<typeof useRange>; onRange?: (r: RangeId) => void }) {
  return (
    <>
      <div class="field">
        <label for={`${prefix}-range`}>Time range</label>
        <select id={`${prefix}-range`} value={state.range} onChange={(e) => (onRange ?? state.setRange)((e.target as HTMLSelectElement).value as RangeId)}>
          {RANGES.map(([id, label]) => (
            <option key={id} value={id}>
              {label}
            </option>
          ))}
        </select>
      </div>
      {state.range === 'custom' && (
        <>
          <div class="field">
            <label for={`${prefix}-from`}>From (your local time)</label>
            <input id={`${prefix}-from`} type="datetime-local" value={state.customFrom} onChange={(e) => state.setCustomFrom((e.target as HTMLInputElement).value)} />
          </div>
          <div class="field">
            <label for={`${prefix}-to`}>To (your local time)</label>
            <input id={`${prefix}-to`} type="datetime-local" value={state.customTo} onChange={(e) => state.setCustomTo((e.target as HTMLInputElement).value)} />
          </div>
        </>
      )}
    </>
  );
}

/** A labelled select of the IANA time zones this browser knows (UTC and the browser's own first). */
export function ZoneField({ id, value, onChange }: { id: string; value: string; onChange: (tz: string) => void }) {
  const all = useMemo(zones, []);
  return (
    <div class="field">
      <label for={id}>Time zone</label>
      <select id={id} value={value} onChange={(e) => onChange((e.target as HTMLSelectElement).value)}>
        {all.map((z) => (
          <option key={z} value={z}>
            {z}
          </option>
        ))}
      </select>
    </div>
  );
}

// Calendar days in a time zone, as YYYY-MM-DD (what <input type="date"> holds).

function zoneParts(tz: string, ms: number): Record<string, number> {
  const f = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
  const p: Record<string, number> = {};
  for (const x of f.formatToParts(ms)) if (x.type !== 'literal') p[x.type] = Number(x.value);
  return p;
}

/** The zone's offset from UTC at an instant, in ms (positive east of Greenwich). */
function zoneOffset(tz: string, ms: number): number {
  const p = zoneParts(tz, ms);
  return Date.UTC(p.year, p.month - 1, p.day, p.hour % 24, p.minute, p.second) - Math.floor(ms / 1000) * 1000;
}

/** Today's date in a time zone. */
export function zoneToday(tz: string): string {
  const p = zoneParts(tz, Date.now());
  return isoDay(Date.UTC(p.year, p.month - 1, p.day));
}

const isoDay = (utcMidnight: number) => new Date(utcMidnight).toISOString().slice(0, 10);

/** A YYYY-MM-DD date plus n days. */
export function addDays(day: string, n: number): string {
  return isoDay(Date.parse(`${day}T00:00:00Z`) + n * DAY);
}

/** The first instant of a calendar day in a time zone (its midnight, or later when the clocks skip midnight); NaN for a bad date. */
export function dayStartIn(tz: string, day: string): number {
  const local = Date.parse(`${day}T00:00:00Z`);
  if (Number.isNaN(local)) return NaN;
  let t = local - zoneOffset(tz, local);
  t = local - zoneOffset(tz, t); // the offset at that midnight, not at UTC's
  // Midnight skipped by a change of clocks: the day starts at the first instant that is in it.
  for (let i = 0; i < 4 && isoDayIn(tz, t) < day; i++) t += HOUR / 2;
  return t;
}

function isoDayIn(tz: string, ms: number): string {
  const p = zoneParts(tz, ms);
  return isoDay(Date.UTC(p.year, p.month - 1, p.day));
}

/** The project's most frequent event names in [from, to), for a <datalist>; none while loading or on an error (suggestions only). */
export function useEventNames(from: number, to: number): string[] {
  const [names, setNames] = useState<string[]>([]);
  useEffect(() => {
    if (!Number.isFinite(from) || !Number.isFinite(to) || from >= to) return;
    let stop = false;
    api<{ events: Array<{ event: string }> }>('api/stats/top-events', { query: { from: new Date(from).toISOString(), to: new Date(to).toISOString(), limit: 100 } })
      .then((r) => !stop && setNames(r.events.map((e) => e.event)))
      .catch(() => undefined);
    return () => {
      stop = true;
    };
  }, [from, to]);
  return names;
}

export function EventNames({ id, names }: { id: string; names: string[] }) {
  return (
    <datalist id={id} data-testid={id}>
      {names.map((n) => (
        <option key={n} value={n} />
      ))}
    </datalist>
  );
}
