// The event inspector: the stored JSON (fetched by messageId; until the processor has stored it, the
// acknowledged form is shown and fetched again every second), its three times, what enrichment added,
// and whether the server recognised it as a duplicate.
import { useEffect, useRef, useState } from 'preact/hooks';
import { storedEvent, type StoredEvent } from './api.js';
import { displayName, duration, json } from './format.js';

interface Change {
  path: string;
  kind: 'added' | 'changed';
  value: unknown;
}

/** What the stored event has that the acknowledged one had not, or has otherwise (enrichment's work). */
export function diff(before: unknown, after: unknown, path = ''): Change[] {
  if (typeof after !== 'object' || after === null || Array.isArray(after)) {
    return JSON.stringify(before) === JSON.stringify(after) ? [] : [{ path, kind: before === undefined ? 'added' : 'changed', value: after }];
  }
  if (typeof before !== 'object' || before === null || Array.isArray(before)) return [{ path, kind: before === undefined ? 'added' : 'changed', value: after }];
  const out: Change[] = [];
  for (const [k, v] of Object.entries(after)) out.push(...diff((before as Record<string, unknown>)[k], v, path ? `${path}.${k}` : k));
  return out;
}

export function Inspector({ acknowledged, stored: given, duplicate, onClose }: { acknowledged?: StoredEvent; stored?: StoredEvent; duplicate?: boolean; onClose: () => void }) {
  const [stored, setStored] = useState<StoredEvent | null>(given ?? null);
  const [waited, setWaited] = useState(0);
  const [error, setError] = useState('');
  const heading = useRef<HTMLHeadingElement>(null);
  const messageId = (acknowledged ?? given)?.messageId;

  useEffect(() => heading.current?.focus(), []);
  useEffect(() => {
    if (given || typeof messageId !== 'string') return;
    let stop = false;
    let timer: ReturnType<typeof setTimeout>;
    let tries = 0;
    const poll = async () => {
      try {
        const s = await storedEvent(messageId);
        if (stop) return;
        if (s) return setStored(s);
      } catch (err) {
        if (!stop) setError((err as Error).message);
      }
      tries++;
      setWaited(tries);
      if (!stop && tries < 60) timer = setTimeout(poll, 1000);
    };
    void poll();
    return () => {
      stop = true;
      clearTimeout(timer);
    };
  }, [messageId]);

  const shown = stored ?? acknowledged ?? {};
  const added = stored && acknowledged ? diff(acknowledged, stored).filter((c) => !(duplicate && ['receivedAt', 'sentAt', 'timestamp', 'originalTimestamp'].includes(c.path))) : [];
  const times = shown as StoredEvent;
  const ms = (a?: string, b?: string) => (a && b ? duration(Date.parse(a) - Date.parse(b)) : '');

  return (
    <aside class="inspector card" aria-labelledby="inspector-title" onKeyDown={(e) => e.key === 'Escape' && onClose()}>
      <div class="inspector-head">
        <h2 id="inspector-title" tabIndex={-1} ref={heading}>
          {displayName(shown)}
        </h2>
        <button type="button" class="secondary" onClick={onClose}>
          Close inspector
        </button>
      </div>
      <dl class="facts">
        <dt>Type</dt>
        <dd>{String(shown.type ?? '')}</dd>
        <dt>messageId</dt>
        <dd class="mono">{String(messageId ?? '')}</dd>
        {duplicate !== undefined && (
          <>
            <dt>Duplicate</dt>
            <dd data-testid="duplicate">{duplicate ? 'yes: this messageId had been received before; nothing new was stored (the stored event is the first one)' : 'no'}</dd>
          </>
        )}
        <dt>Stored</dt>
        <dd data-testid="stored-state">
          {stored ? 'yes' : error ? `cannot tell: ${error}` : waited >= 60 ? 'not yet (still processing, or a dead letter)' : 'not yet: showing the event as acknowledged'}
        </dd>
        {Array.isArray(times.ingestionWarnings) && (
          <>
            <dt>Warnings</dt>
            <dd>{(times.ingestionWarnings as string[]).join(', ')}</dd>
          </>
        )}
      </dl>
      <h3>Times</h3>
      <table class="times">
        <thead>
          <tr>
            <th scope="col">field</th>
            <th scope="col">value</th>
            <th scope="col">meaning</th>
          </tr>
        </thead>
        <tbody>
          <tr>
            <th scope="row">timestamp</th>
            <td class="mono">{String(times.timestamp ?? '')}</td>
            <td>when it happened, corrected for the client's clock {ms(times.timestamp, times.originalTimestamp) && `(${ms(times.timestamp, times.originalTimestamp)} vs. the client's)`}</td>
          </tr>
          <tr>
            <th scope="row">originalTimestamp</th>
            <td class="mono">{String(times.originalTimestamp ?? '')}</td>
            <td>the timestamp the client sent</td>
          </tr>
          <tr>
            <th scope="row">sentAt</th>
            <td class="mono">{String(times.sentAt ?? '')}</td>
            <td>the client's clock when it sent the batch</td>
          </tr>
          <tr>
            <th scope="row">receivedAt</th>
            <td class="mono">{String(times.receivedAt ?? '')}</td>
            <td>the server's clock on arrival {ms(times.receivedAt, times.sentAt) && `(${ms(times.receivedAt, times.sentAt)} after sentAt)`}</td>
          </tr>
        </tbody>
      </table>
      {acknowledged && (
        <>
          <h3>Added by enrichment</h3>
          {!stored ? (
            <p class="help">Shown once the event is stored.</p>
          ) : added.length === 0 ? (
            <p class="help">Nothing (no client IP or user agent to work from, or the client sent those fields itself).</p>
          ) : (
            <ul class="added" data-testid="enrichment">
              {added.map((c) => (
                <li key={c.path}>
                  <code>{c.path}</code> {c.kind === 'changed' ? '(changed)' : ''}: <code>{JSON.stringify(c.value)}</code>
                </li>
              ))}
            </ul>
          )}
        </>
      )}
      <h3>{stored ? 'Stored JSON' : 'Acknowledged JSON'}</h3>
      <pre class="json" data-testid="event-json" tabIndex={0} aria-label={stored ? 'Stored JSON' : 'Acknowledged JSON'}>
        {json(shown)}
      </pre>
    </aside>
  );
}
