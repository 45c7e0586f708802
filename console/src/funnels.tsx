// Funnels: 2 to 5 steps (an event name, optionally one property filter), a range for the first step
// and a conversion window; GET /api/stats/funnel answers how many users reached each step, shown
// with the conversion from the previous step and from the first.
import { useMemo, useState } from 'preact/hooks';
import { api } from './api.js';
import { DAY, EventNames, HOUR, RangeFields, rangeBounds, useEventNames, useRange } from './fields.js';
import { dateTime, num, pct } from './format.js';

type ValueType = 'auto' | 'string' | 'number' | 'boolean';
type Equals = string | number | boolean;

interface StepDraft {
  key: number;
  event: string;
  property: string;
  value: string;
  type: ValueType;
}
interface FunnelStep {
  event: string;
  where?: { property: string; equals: Equals };
}
interface Funnel {
  from: string;
  to: string;
  windowSeconds: number;
  steps: Array<{ event: string; where: { property: string; equals: Equals } | null; users: number; conversion: number | null }>;
}

const MIN_STEPS = 2;
const MAX_STEPS = 5;
const NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;

/** What "auto" makes of a value: true/false a boolean, a plain decimal number a number, anything else a string. */
function inferred(raw: string): 'string' | 'number' | 'boolean' {
  if (raw === 'true' || raw === 'false') return 'boolean';
  return NUMBER.test(raw.trim()) && Number.isFinite(Number(raw)) ? 'number' : 'string';
}

/** The value a step's filter must equal, in its JSON type, or why it cannot be built. */
function equalsOf(s: StepDraft): Equals | Error {
  const type = s.type === 'auto' ? inferred(s.value) : s.type;
  if (type === 'boolean') {
    if (s.value !== 'true' && s.value !== 'false') return new Error('choose true or false');
    return s.value === 'true';
  }
  if (type === 'number') {
    const n = Number(s.value.trim());
    return s.value.trim() !== '' && Number.isFinite(n) ? n : new Error(`“${s.value}” is not a number`);
  }
  if (s.type === 'auto' && s.value === '') return new Error('give a value (or choose the type “text” to match an empty string)');
  return s.value;
}

/** The `steps` parameter from the form, or the first thing wrong with it. */
function stepsOf(drafts: StepDraft[]): FunnelStep[] | string {
  const steps: FunnelStep[] = [];
  for (const [i, s] of drafts.entries()) {
    const event = s.event.trim();
    if (!event) return `Step ${i + 1}: give an event name.`;
    const property = s.property.trim();
    if (!property) {
      steps.push({ event }); // no property: no filter (its value fields are disabled)
      continue;
    }
    const equals = equalsOf(s);
    if (equals instanceof Error) return `Step ${i + 1}, property “${property}”: ${equals.message}.`;
    steps.push({ event, where: { property, equals } });
  }
  return steps;
}

let nextKey = 0;
const newStep = (): StepDraft => ({ key: nextKey++, event: '', property: '', value: '', type: 'auto' });

function StepFields({ i, step, count, onChange, onRemove }: { i: number; step: StepDraft; count: number; onChange: (s: StepDraft) => void; onRemove: () => void }) {
  const id = `fn-step-${i + 1}`;
  const set = (k: 'event' | 'property' | 'value' | 'type') => (e: Event) => onChange({ ...step, [k]: (e.target as HTMLInputElement | HTMLSelectElement).value });
  const guess = step.type === 'auto' && step.value !== '' ? inferred(step.value) : null;
  return (
    <fieldset class="step" data-testid="funnel-step-fields">
      <legend>Step {i + 1}</legend>
      <div class="filters">
        <div class="field field-wide">
          <label for={`${id}-event`}>
            <span class="sr-only">Step {i + 1} </span>Event name
          </label>
          <input id={`${id}-event`} list="fn-event-names" value={step.event} onInput={set('event')} required maxLength={1024} autocomplete="off" placeholder="e.g. Signed Up" />
        </div>
        <div class="field">
          <label for={`${id}-property`}>
            <span class="sr-only">Step {i + 1} </span>Property (optional)
          </label>
          <input id={`${id}-property`} value={step.property} onInput={set('property')} maxLength={256} autocomplete="off" placeholder="e.g. plan" />
        </div>
        <div class="field">
          <label for={`${id}-value`}>
            <span class="sr-only">Step {i + 1} property </span>Equals
          </label>
          {step.type === 'boolean' ? (
            <select id={`${id}-value`} value={step.value} onChange={set('value')} disabled={!step.property.trim()}>
              <option value="">choose…</option>
              <option value="true">true</option>
              <option value="false">false</option>
            </select>
          ) : (
            <input
              id={`${id}-value`}
              value={step.value}
              onInput={set('value')}
              inputMode={step.type === 'number' ? 'decimal' : undefined}
              disabled={!step.property.trim()}
              autocomplete="off"
              placeholder="e.g. pro"
            />
          )}
        </div>
        <div class="field field-narrow">
          <label for={`${id}-type`}>
            <span class="sr-only">Step {i + 1} </span>Value type
          </label>
          <select id={`${id}-type`} value={step.type} onChange={(e) => {
              const type = (e.target as HTMLSelectElement).value as ValueType;
              onChange({ ...step, type, value: type === 'boolean' || step.type === 'boolean' ? '' : step.value });
            }} disabled={!step.property.trim()}>
            <option value="auto">{guess ? `auto (${guess === 'string' ? 'text' : guess})` : 'auto'}</option>
            <option value="string">text</option>
            <option value="number">number</option>
            <option value="boolean">true/false</option>
          </select>
        </div>
        {count > MIN_STEPS && (
          <div class="actions">
            <button type="button" class="secondary" onClick={onRemove} aria-label={`Remove step ${i + 1}`}>
              Remove
            </button>
          </div>
        )}
      </div>
    </fieldset>
  );
}

const where = (w: { property: string; equals: Equals } | null) => (w ? `${w.property} = ${JSON.stringify(w.equals)}` : '');

function windowText(seconds: number): string {
  return seconds % 86_400 === 0 ? `${seconds / 86_400} day${seconds === 86_400 ? '' : 's'}` : seconds % 3600 === 0 ? `${seconds / 3600} hour${seconds === 3600 ? '' : 's'}` : `${seconds} s`;
}

function FunnelResult({ f }: { f: Funnel }) {
  const first = f.steps[0]?.users ?? 0;
  const last = f.steps.at(-1)?.users ?? 0;
  return (
    <div class="card" data-testid="funnel" data-from={f.from} data-to={f.to} data-window={f.windowSeconds}>
      <h2>Result</h2>
      <p class="help">
        Users whose first step is between {dateTime(f.from)} and {dateTime(f.to)}, each later step within {windowText(f.windowSeconds)} of their first.{' '}
        {first > 0 ? `${pct(last / first)} of them (${num(last)} of ${num(first)}) completed the funnel.` : 'No user did the first step in this range.'}
      </p>
      <div class="table-scroll">
        <table class="funnel">
          <thead>
            <tr>
              <th scope="col">step</th>
              <th scope="col" class="n">
                users
              </th>
              <th scope="col" class="n">
                from previous
              </th>
              <th scope="col" class="n">
                from step 1
              </th>
              <th scope="col" class="bar-col">
                <span class="sr-only">share of step 1</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {f.steps.map((s, i) => {
              const overall = first > 0 ? s.users / first : null;
              return (
                <tr key={i} data-testid="funnel-step">
                  <th scope="row">
                    {i + 1}. {s.event}
                    {s.where && <span class="help mono"> where {where(s.where)}</span>}
                  </th>
                  <td class="n" data-testid="step-users">
                    {num(s.users)}
                  </td>
                  <td class="n">{i === 0 ? '' : pct(s.conversion)}</td>
                  <td class="n">{pct(overall)}</td>
                  <td class="bar-col">
                    <svg class="fbar" viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true">
                      <rect class="fbar-track" width="100" height="10" />
                      {overall !== null && overall > 0 && <rect class="fbar-fill" width={Math.max(0.5, overall * 100)} height="10" />}
                    </svg>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </div>
  );
}

export function FunnelsView() {
  const rangeState = useRange('7d');
  const { range, customFrom, customTo } = rangeState;
  const [steps, setSteps] = useState<StepDraft[]>(() => [newStep(), newStep()]);
  const [windowValue, setWindowValue] = useState('14');
  const [windowUnit, setWindowUnit] = useState<'hours' | 'days'>('days');
  const [result, setResult] = useState<Funnel | null>(null);
  const [error, setError] = useState('');
  const [loading, setLoading] = useState(false);

  // Suggestions over the range the funnel would use (a preset's end moves with the clock: fixed here per choice).
  const suggestBounds = useMemo(() => rangeBounds(range, customFrom, customTo), [range, customFrom, customTo]);
  const names = useEventNames(suggestBounds.from, suggestBounds.to);

  async function submit(e: Event) {
    e.preventDefault();
    setError('');
    // A result stays only while it answers the form: any error takes it away.
    const fail = (message: string) => (setResult(null), setError(message));
    const parsed = stepsOf(steps);
    if (typeof parsed === 'string') return fail(parsed);
    const n = Number(windowValue);
    if (!Number.isFinite(n) || n <= 0) return fail('The conversion window must be a positive number.');
    const windowSeconds = Math.round((n * (windowUnit === 'days' ? DAY : HOUR)) / 1000);
    const { from, to } = rangeBounds(range, customFrom, customTo);
    if (!Number.isFinite(from) || !Number.isFinite(to) || from >= to) return fail('Choose a start before the end.');
    setLoading(true);
    try {
      const f = await api<Funnel>('api/stats/funnel', {
        query: { steps: JSON.stringify(parsed), from: new Date(from).toISOString(), to: new Date(to).toISOString(), windowSeconds },
      });
      setResult(f);
    } catch (err) {
      fail((err as Error).message); // the server's 400 says what is wrong, naming the step or parameter
    } finally {
      setLoading(false);
    }
  }

  const update = (i: number) => (s: StepDraft) => setSteps((all) => all.map((x, j) => (j === i ? s : x)));

  return (
    <section class="view" aria-labelledby="funnels-title">
      <div class="view-head">
        <h1 id="funnels-title">Funnels</h1>
        <p class="help">How many users did these events in this order, each step after the previous one and within the window of the first.</p>
      </div>
      <form class="card" onSubmit={submit} aria-label="Funnel">
        <EventNames id="fn-event-names" names={names} />
        {steps.map((s, i) => (
          <StepFields key={s.key} i={i} step={s} count={steps.length} onChange={update(i)} onRemove={() => setSteps((all) => all.filter((_, j) => j !== i))} />
        ))}
        {steps.length < MAX_STEPS && (
          <p>
            <button type="button" class="secondary" onClick={() => setSteps((all) => [...all, newStep()])}>
              Add step
            </button>
          </p>
        )}
        <div class="filters">
          <RangeFields prefix="fn" state={rangeState} />
          <div class="field field-narrow">
            <label for="fn-window">Conversion window</label>
            <input id="fn-window" type="number" min="1" step="any" required value={windowValue} onInput={(e) => setWindowValue((e.target as HTMLInputElement).value)} />
          </div>
          <div class="field field-narrow">
            <label for="fn-window-unit">Window unit</label>
            <select id="fn-window-unit" value={windowUnit} onChange={(e) => setWindowUnit((e.target as HTMLSelectElement).value as 'hours' | 'days')}>
              <option value="hours">hours</option>
              <option value="days">days</option>
            </select>
          </div>
          <div class="actions">
            <button type="submit" disabled={loading}>
              {loading ? 'Loading…' : 'Show funnel'}
            </button>
          </div>
        </div>
        <p class="help">The range is where the first step happens; later steps may fall after its end (up to 90 days of window).</p>
      </form>
      <p class="help" role="status">
        {loading ? 'Loading the funnel…' : ''}
      </p>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {result && !loading && <FunnelResult f={result} />}
    </section>
  );
}
