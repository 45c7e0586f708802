// The Solute console: sign-in, then the views, routed by the URL's hash (#/live, #/overview, ...) so
// that every page is the one index.html and every URL is relative.
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, api, setSession, whenSignedOut, type Session } from './api.js';
import { LiveView } from './live.js';
import { OverviewView } from './overview.js';
import { ProfilesView, ProfileView, GroupView } from './profiles.js';
import { DeadLettersView } from './dead-letters.js';
import { HealthView } from './health.js';
import { FunnelsView } from './funnels.js';
import { RetentionView } from './retention.js';
import './style.css';

const SECTIONS = [
  ['live', 'Live events'],
  ['overview', 'Overview'],
  ['funnels', 'Funnels'],
  ['retention', 'Retention'],
  ['profiles', 'Profiles'],
  ['dead-letters', 'Dead letters'],
  ['health', 'Health'],
] as const;

function useRoute(): string[] {
  const read = () => location.hash.replace(/^#\/?/, '').split('/').map((p) => decodeURIComponent(p));
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const on = () => setRoute(read());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

function SignIn({ onSignedIn, notice }: { onSignedIn: (s: Session) => void; notice: string }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      const s = await api<Session>('api/console/session', { method: 'POST', body: { key: key.trim() }, quiet401: true });
      setKey('');
      onSignedIn(s);
    } catch (err) {
      const a = err as ApiError;
      setError(
        a.code === 'SOL_ERR_AUTH_WRONG_KEY_KIND'
          ? 'This is a write key: write keys can only send events. Sign in with a secret key (sk_…).'
          : a.code === 'SOL_ERR_AUTH_INVALID_KEY'
            ? 'This key is unknown or was revoked.'
            : a.message,
      );
    } finally {
      setBusy(false);
    }
  }
  return (
    <main class="signin" id="main">
      <h1>Solute</h1>
      <form onSubmit={submit} class="card">
        <h2>Sign in</h2>
        {notice && <p class="notice">{notice}</p>}
        <label for="secret-key">Secret key</label>
        <input
          id="secret-key"
          name="secret-key"
          type="password"
          autocomplete="off"
          spellcheck={false}
          required
          value={key}
          onInput={(e) => setKey((e.target as HTMLInputElement).value)}
          aria-describedby="secret-key-help"
        />
        <p id="secret-key-help" class="help">
          A secret key (<code>sk_…</code>) of your project, from <code>bin/solute keys create --project NAME --secret</code>. It is exchanged for a
          session and not kept by the browser.
        </p>
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        <p role="alert" class="error">
          {error}
        </p>
      </form>
    </main>
  );
}

function App() {
  const [session, setSess] = useState<Session | null | undefined>(undefined);
  const [notice, setNotice] = useState('');
  const route = useRoute();

  // Set when this console signs itself out: the live stream's "signed out" news is then ours, not news.
  const signingOut = useRef(false);

  useEffect(() => {
    whenSignedOut(() => {
      if (signingOut.current) return;
      setSession(null);
      setSess(null);
      setNotice('Your session ended (signed out, expired, or its key was revoked). Sign in again.');
    });
    api<Session>('api/console/session', { quiet401: true })
      .then((s) => {
        setSession(s);
        setSess(s);
      })
      .catch(() => setSess(null));
  }, []);

  if (session === undefined) return <p class="loading">Loading…</p>;
  if (session === null) {
    return (
      <SignIn
        notice={notice}
        onSignedIn={(s) => {
          signingOut.current = false;
          setSession(s);
          setSess(s);
          setNotice('');
          location.hash = '#/live';
        }}
      />
    );
  }

  async function signOut() {
    signingOut.current = true; // until the next sign-in: a 401 of a request still in flight is ours too
    await api('api/console/session', { method: 'DELETE', quiet401: true }).catch(() => undefined);
    setSession(null);
    setSess(null);
    setNotice('Signed out.');
  }

  const section = route[0] || 'live';
  return (
    <div class="shell">
      <header class="top">
        <a class="brand" href="#/live">
          Solute
        </a>
        <nav aria-label="Sections">
          <ul>
            {SECTIONS.map(([id, label]) => (
              <li key={id}>
                <a href={`#/${id}`} aria-current={section === id || (id === 'profiles' && section === 'groups') ? 'page' : undefined}>
                  {label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="who">
          <span title={`key ${session.keyPrefix}…`}>
            Project <strong>{session.project}</strong>
          </span>
          <button type="button" onClick={signOut}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main">
        {/* Kept mounted: the stream and its rows survive a visit to another view. */}
        <LiveView active={section === 'live'} />
        {section === 'overview' && <OverviewView />}
        {section === 'funnels' && <FunnelsView />}
        {section === 'retention' && <RetentionView />}
        {section === 'profiles' && (route[1] ? <ProfileView id={route[1]} /> : <ProfilesView />)}
        {section === 'groups' && route[1] && <GroupView id={route[1]} />}
        {section === 'dead-letters' && <DeadLettersView />}
        {section === 'health' && <HealthView />}
        {!SECTIONS.some(([id]) => id === section) && section !== 'groups' && (
          <p class="empty">
            No such page. <a href="#/live">Go to live events</a>.
          </p>
        )}
      </main>
    </div>
  );
}

render(<App />, document.getElementById('app')!);
