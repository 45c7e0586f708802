// Live events: a Server-Sent Events stream of the events the server acknowledges, newest first, at
// most MAX_ROWS kept. Filters are applied by the server (the stream is reopened with them) and to
// the rows already shown. Pause keeps receiving but holds new rows back until resumed.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, withQuery } from './api.js';
import { displayName, time, userOf } from './format.js';
import { Inspector } from './inspector.js';

export interface LiveRow {
  id: number;
  duplicate: boolean;
  event: Record<string, unknown>;
}

interface Filter {
  type: string;
  event: string;
  user: string;
}

const MAX_ROWS = 500;
const TYPES = ['track', 'identify', 'page', 'screen', 'group', 'alias'];

function matches(f: Filter, e: Record<string, unknown>): boolean {
  return (!f.type || e.type === f.type) && (!f.event || e.event === f.event) && (!f.user || e.userId === f.user || e.anonymousId === f.user);
}

type Status = 'connecting' | 'live' | 'reconnecting' | 'closed';

export function LiveView({ active }: { active: boolean }) {
  const [rows, setRows] = useState<LiveRow[]>([]);
  const [held, setHeld] = useState<LiveRow[]>([]);
  const [paused, setPaused] = useState(false);
  const [draft, setDraft] = useState<Filter>({ type: '', event: '', user: '' });
  const [filter, setFilter] = useState<Filter>({ type: '', event: '', user: '' });
  const [status, setStatus] = useState<Status>('connecting');
  const [notices, setNotices] = useState<string[]>([]);
  const [selected, setSelected] = useState<LiveRow | null>(null);
  const pausedRef = useRef(paused);
  pausedRef.current = paused;

  // Text filters apply after a short pause in typing; the type filter at once. A draft equal to the
  // filter in force changes nothing: a new object would reopen the stream (on mount, 400 ms in, losing
  // the events acknowledged while it reconnects).
  useEffect(() => {
    if (draft.type === filter.type && draft.event === filter.event && draft.user === filter.user) return;
    const t = setTimeout(() => setFilter(draft), draft.type !== filter.type ? 0 : 400);
    return () => clearTimeout(t);
  }, [draft]);

  useEffect(() => {
    setRows((r) => r.filter((x) => matches(filter, x.event)));
    setHeld((r) => r.filter((x) => matches(filter, x.event)));
    let es: EventSource | null = null;
    let retry: ReturnType<typeof setTimeout> | null = null;
    let stopped = false;
    const note = (text: string) => setNotices((n) => [`${new Date().toLocaleTimeString(undefined, { hour12: false })} ${text}`, ...n].slice(0, 3));
    const open = () => {
      setStatus('connecting');
      es = new EventSource(withQuery('api/console/live', { type: filter.type, event: filter.event, user: filter.user }));
      es.onopen = () => setStatus('live');
      es.addEventListener('events', (m) => {
        const batch = (JSON.parse((m as MessageEvent<string>).data) as LiveRow[]).reverse();
        if (pausedRef.current) setHeld((h) => [...batch, ...h].slice(0, MAX_ROWS));
        else setRows((r) => [...batch, ...r].slice(0, MAX_ROWS));
      });
      es.addEventListener('dropped', (m) => note(`${JSON.parse((m as MessageEvent<string>).data).count} events were not shown (too many at once).`));
      es.addEventListener('gap', (m) => note(JSON.parse((m as MessageEvent<string>).data).message ?? 'Some events were not shown.'));
      es.addEventListener('signedout', () => {
        es?.close();
        void api('api/console/session').catch(() => undefined); // a 401 there signs the console out
      });
      es.onerror = () => {
        if (stopped) return;
        if (es?.readyState === EventSource.CONNECTING) {
          setStatus('reconnecting'); // the browser reconnects by itself, resuming after the last event seen
          return;
        }
        // Closed for good (an error status): is the session still there? Then open again a little later.
        setStatus('closed');
        es?.close();
        api('api/console/session')
          .then(() => (retry = setTimeout(open, 3000)))
          .catch(() => undefined);
      };
    };
    open();
    return () => {
      stopped = true;
      es?.close();
      if (retry) clearTimeout(retry);
    };
  }, [filter]);

  function togglePause() {
    if (paused) {
      setRows((r) => [...held, ...r].slice(0, MAX_ROWS));
      setHeld([]);
    }
    setPaused(!paused);
  }

  const set = (k: keyof Filter) => (e: Event) => setDraft({ ...draft, [k]: (e.target as HTMLInputElement).value });

  return (
    <section class="view live" hidden={!active} aria-labelledby="live-title">
      <div class="view-head">
        <h1 id="live-title">Live events</h1>
        <p class={`status status-${status}`} role="status">
          {status === 'live' ? (paused ? 'Paused' : 'Live') : status === 'connecting' ? 'Connecting…' : status === 'reconnecting' ? 'Reconnecting…' : 'Disconnected'}
        </p>
      </div>
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filters">
        <div class="field">
          <label for="live-type">Type</label>
          <select id="live-type" value={draft.type} onChange={set('type')}>
            <option value="">Any type</option>
            {TYPES.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="live-event">Event name</label>
          <input id="live-event" type="search" value={draft.event} onInput={set('event')} placeholder="e.g. Order Completed" />
        </div>
        <div class="field">
          <label for="live-user">User</label>
          <input id="live-user" type="search" value={draft.user} onInput={set('user')} placeholder="userId or anonymousId" />
        </div>
        <div class="actions">
          <button type="button" onClick={togglePause} aria-pressed={paused}>
            {paused ? `Resume${held.length ? ` (${held.length} new)` : ''}` : 'Pause'}
          </button>
          <button type="button" class="secondary" onClick={() => (setRows([]), setHeld([]), setSelected(null))}>
            Clear
          </button>
        </div>
      </form>
      {notices.map((n) => (
        <p class="notice" key={n}>
          {n}
        </p>
      ))}
      <div class={`split ${selected ? 'with-inspector' : ''}`}>
        <div class="rows-wrap">
          {rows.length === 0 ? (
            <p class="empty">Waiting for events… Events this server acknowledges appear here within a second or two.</p>
          ) : (
            <ol class="rows" aria-label={`Latest ${rows.length} events, newest first`}>
              {rows.map((r) => (
                <li key={r.id}>
                  <button type="button" class={`row ${selected?.id === r.id ? 'selected' : ''}`} onClick={() => setSelected(r)} aria-pressed={selected?.id === r.id}>
                    <span class="t">{time(r.event.receivedAt)}</span>
                    <span class={`type type-${String(r.event.type)}`}>{String(r.event.type)}</span>
                    <span class="name">{displayName(r.event)}</span>
                    <span class="user">{userOf(r.event)}</span>
                    {r.duplicate && <span class="dup">duplicate</span>}
                  </button>
                </li>
              ))}
            </ol>
          )}
        </div>
        {selected && <Inspector acknowledged={selected.event} duplicate={selected.duplicate} key={selected.id} onClose={() => setSelected(null)} />}
      </div>
    </section>
  );
}
