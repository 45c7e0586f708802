// Profiles: find one by any of its ids or list them by trait; a profile's traits, linked ids and its
// timeline (latest events, each opening the inspector); a group's traits and members.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, api, type StoredEvent } from './api.js';
import { dateTime, displayName, num } from './format.js';
import { Inspector } from './inspector.js';

interface Summary {
  userId: string | null;
  traits: Record<string, unknown>;
  ids: string[];
}
interface Profile extends Summary {
  firstSeen: string | null;
  lastSeen: string | null;
  eventCount: number;
  recentEvents: StoredEvent[];
}
interface Group {
  groupId: string;
  traits: Record<string, unknown>;
  memberCount: number;
  members: Array<{ id: string; since: string | null }>;
  nextCursor: string | null;
}

const profileHref = (id: string) => `#/profiles/${encodeURIComponent(id)}`;
const groupHref = (id: string) => `#/groups/${encodeURIComponent(id)}`;
const value = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));

export function ProfilesView() {
  const [id, setId] = useState('');
  const [group, setGroup] = useState('');
  const [trait, setTrait] = useState('');
  const [traitValue, setTraitValue] = useState('');
  const [list, setList] = useState<Summary[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState('');

  async function load(cursor?: string) {
    setError('');
    try {
      const r = await api<{ profiles: Summary[]; nextCursor: string | null }>('api/profiles', {
        query: { trait: trait.trim() || undefined, value: trait.trim() && traitValue !== '' ? traitValue : undefined, limit: 50, cursor },
      });
      setList((l) => (cursor && l ? [...l, ...r.profiles] : r.profiles));
      setNext(r.nextCursor);
    } catch (e) {
      setError((e as Error).message);
    }
  }
  useEffect(() => void load(), []);

  return (
    <section class="view" aria-labelledby="profiles-title">
      <div class="view-head">
        <h1 id="profiles-title">Profiles</h1>
      </div>
      <div class="two">
        <form class="card stack" onSubmit={(e) => (e.preventDefault(), id.trim() && (location.hash = profileHref(id.trim())))}>
          <h2>Find a profile</h2>
          <label for="pf-id">User or anonymous id</label>
          <input id="pf-id" type="search" value={id} onInput={(e) => setId((e.target as HTMLInputElement).value)} required />
          <button type="submit">Open profile</button>
        </form>
        <form class="card stack" onSubmit={(e) => (e.preventDefault(), group.trim() && (location.hash = groupHref(group.trim())))}>
          <h2>Find a group</h2>
          <label for="pf-group">Group id</label>
          <input id="pf-group" type="search" value={group} onInput={(e) => setGroup((e.target as HTMLInputElement).value)} required />
          <button type="submit">Open group</button>
        </form>
      </div>
      <form class="filters card" onSubmit={(e) => (e.preventDefault(), void load())} aria-label="Search profiles by trait">
        <div class="field">
          <label for="pf-trait">Trait</label>
          <input id="pf-trait" value={trait} onInput={(e) => setTrait((e.target as HTMLInputElement).value)} placeholder="e.g. plan" />
        </div>
        <div class="field">
          <label for="pf-value">Value (optional)</label>
          <input id="pf-value" value={traitValue} onInput={(e) => setTraitValue((e.target as HTMLInputElement).value)} placeholder="e.g. pro" disabled={!trait.trim()} />
        </div>
        <div class="actions">
          <button type="submit">Search</button>
        </div>
      </form>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {list && (
        <div class="card">
          <h2>{trait.trim() ? `Profiles with ${trait.trim()}${traitValue ? ` = ${traitValue}` : ''}` : 'Profiles'}</h2>
          {list.length === 0 ? (
            <p class="help">None.</p>
          ) : (
            <ul class="plain" data-testid="profile-list">
              {list.map((p) => {
                const main = p.userId ?? p.ids[0] ?? '';
                return (
                  <li key={main}>
                    <a href={profileHref(main)}>{main}</a> <span class="help">{p.userId ? '' : '(anonymous) '}{Object.keys(p.traits).slice(0, 4).join(', ')}</span>
                  </li>
                );
              })}
            </ul>
          )}
          {next && (
            <button type="button" class="secondary" onClick={() => void load(next)}>
              More profiles
            </button>
          )}
        </div>
      )}
    </section>
  );
}

function Traits({ traits }: { traits: Record<string, unknown> }) {
  const keys = Object.keys(traits).sort();
  if (keys.length === 0) return <p class="help">No traits.</p>;
  return (
    <table data-testid="traits">
      <thead>
        <tr>
          <th scope="col">trait</th>
          <th scope="col">value</th>
        </tr>
      </thead>
      <tbody>
        {keys.map((k) => (
          <tr key={k}>
            <th scope="row">{k}</th>
            <td class="mono">{value(traits[k])}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function ProfileView({ id }: { id: string }) {
  const [p, setP] = useState<Profile | null>(null);
  const [error, setError] = useState('');
  const [selected, setSelected] = useState<StoredEvent | null>(null);
  useEffect(() => {
    setP(null);
    setError('');
    setSelected(null);
    api<Profile>(`api/profiles/${encodeURIComponent(id)}`, { query: { recent: 50 } })
      .then(setP)
      .catch((e: ApiError) => setError(e.status === 404 ? `No profile has the id “${id}”.` : e.message));
  }, [id]);

  return (
    <section class="view" aria-labelledby="profile-title">
      <p>
        <a href="#/profiles">← Profiles</a>
      </p>
      <h1 id="profile-title">{p?.userId ?? id}</h1>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {p && (
        <>
          <dl class="facts">
            <dt>Identified as</dt>
            <dd>{p.userId ?? '(not identified: no identify call yet)'}</dd>
            <dt>First seen</dt>
            <dd>{dateTime(p.firstSeen)}</dd>
            <dt>Last seen</dt>
            <dd>{dateTime(p.lastSeen)}</dd>
            <dt>Events</dt>
            <dd data-testid="event-count">{num(p.eventCount)}</dd>
          </dl>
          <div class="two">
            <div class="card">
              <h2>Traits</h2>
              <Traits traits={p.traits} />
            </div>
            <div class="card">
              <h2>Linked ids</h2>
              <ul class="plain mono" data-testid="linked-ids">
                {p.ids.map((x) => (
                  <li key={x}>{x}</li>
                ))}
              </ul>
            </div>
          </div>
          <div class={`split ${selected ? 'with-inspector' : ''}`}>
            <div class="card">
              <h2>Timeline</h2>
              <p class="help">The latest {p.recentEvents.length} of {num(p.eventCount)} events, newest first.</p>
              <ol class="rows" data-testid="timeline">
                {p.recentEvents.map((e) => (
                  <li key={String(e.messageId)}>
                    <button type="button" class="row" onClick={() => setSelected(e)}>
                      <span class="t">{dateTime(e.timestamp)}</span>
                      <span class={`type type-${String(e.type)}`}>{String(e.type)}</span>
                      <span class="name">{displayName(e)}</span>
                      {e.type === 'group' && typeof e.groupId === 'string' && <span class="user">group {e.groupId}</span>}
                    </button>
                  </li>
                ))}
              </ol>
            </div>
            {selected && <Inspector stored={selected} key={String(selected.messageId)} onClose={() => setSelected(null)} />}
          </div>
        </>
      )}
    </section>
  );
}

export function GroupView({ id }: { id: string }) {
  const [g, setG] = useState<Group | null>(null);
  const [error, setError] = useState('');
  async function load(cursor?: string) {
    try {
      const r = await api<Group>(`api/groups/${encodeURIComponent(id)}`, { query: { limit: 100, cursor } });
      setG((old) => (cursor && old ? { ...r, members: [...old.members, ...r.members] } : r));
    } catch (e) {
      const a = e as ApiError;
      setError(a.status === 404 ? `No group has the id “${id}”.` : a.message);
    }
  }
  useEffect(() => {
    setG(null);
    setError('');
    void load();
  }, [id]);
  return (
    <section class="view" aria-labelledby="group-title">
      <p>
        <a href="#/profiles">← Profiles</a>
      </p>
      <h1 id="group-title">Group {id}</h1>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {g && (
        <div class="two">
          <div class="card">
            <h2>Traits</h2>
            <Traits traits={g.traits} />
          </div>
          <div class="card">
            <h2>Members ({num(g.memberCount)})</h2>
            <ul class="plain" data-testid="members">
              {g.members.map((m) => (
                <li key={m.id}>
                  <a href={profileHref(m.id)}>{m.id}</a> <span class="help">since {dateTime(m.since)}</span>
                </li>
              ))}
            </ul>
            {g.nextCursor && (
              <button type="button" class="secondary" onClick={() => void load(g.nextCursor!)}>
                More members
              </button>
            )}
          </div>
        </div>
      )}
      {g === null && !error && <p class="help">Loading…</p>}
    </section>
  );
}
