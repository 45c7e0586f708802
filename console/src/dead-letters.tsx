// Dead letters: the events processing could not store, with the step and the reason; replay one or
// all once the cause is fixed. Only a console session may do this (secret keys alone are read-only).
import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';
import { dateTime, displayName, json } from './format.js';

interface DeadLetter {
  id: number;
  step: string;
  reason: string;
  createdAt: string;
  attempts: number;
  event: Record<string, unknown> | null;
  raw: string;
}
interface ReplayResult {
  stored: number;
  failed: number;
  missing: number;
}

export function DeadLettersView() {
  const [items, setItems] = useState<DeadLetter[] | null>(null);
  const [next, setNext] = useState<number | null>(null);
  const [error, setError] = useState('');
  const [result, setResult] = useState('');
  const [busy, setBusy] = useState(false);

  async function load(after?: number) {
    setError('');
    try {
      const r = await api<{ deadLetters: DeadLetter[]; next: number | null }>('api/dead-letters', { query: { limit: 100, after } });
      setItems((old) => (after && old ? [...old, ...r.deadLetters] : r.deadLetters));
      setNext(r.next);
    } catch (e) {
      setError((e as Error).message);
    }
  }
  useEffect(() => void load(), []);

  async function replay(body: { ids: number[] } | { all: true }) {
    setBusy(true);
    setResult('');
    try {
      const r = await api<ReplayResult>('api/dead-letters/replay', { method: 'POST', body });
      setResult(`Replayed: ${r.stored} stored, ${r.failed} failed again${r.missing ? `, ${r.missing} no longer there` : ''}.`);
      await load();
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section class="view" aria-labelledby="dl-title">
      <div class="view-head">
        <h1 id="dl-title">Dead letters</h1>
        <div class="actions">
          <button type="button" class="secondary" onClick={() => void load()} disabled={busy}>
            Refresh
          </button>
          <button type="button" onClick={() => void replay({ all: true })} disabled={busy || !items || items.length === 0}>
            Replay all
          </button>
        </div>
      </div>
      <p class="help">Events that were acknowledged but could not be stored. Fix the cause, then replay them: each goes through processing again.</p>
      <p role="status" class="notice-line">
        {result}
      </p>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {items && items.length === 0 && <p class="empty">No dead letters. Every acknowledged event of this project was stored.</p>}
      {items && items.length > 0 && (
        <ul class="plain dead-letters" data-testid="dead-letters">
          {items.map((d) => (
            <li key={d.id} class="card">
              <div class="dl-head">
                <strong>{d.event ? displayName(d.event) : '(unreadable line)'}</strong>
                <span class="help">
                  #{d.id} · step <code>{d.step}</code> · {dateTime(d.createdAt)} · {d.attempts} attempt{d.attempts === 1 ? '' : 's'}
                </span>
                <button type="button" onClick={() => void replay({ ids: [d.id] })} disabled={busy} aria-label={`Replay dead letter ${d.id}`}>
                  Replay
                </button>
              </div>
              <p class="reason">{d.reason}</p>
              <details>
                <summary>Event JSON</summary>
                <pre class="json" tabIndex={0}>
                  {d.event ? json(d.event) : d.raw}
                </pre>
              </details>
            </li>
          ))}
        </ul>
      )}
      {next !== null && (
        <button type="button" class="secondary" onClick={() => void load(next)}>
          More
        </button>
      )}
    </section>
  );
}
