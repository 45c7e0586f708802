// The SDK: one core for browsers and Node. Events are serialised when they are called and queued as
// strings; senders take them oldest first in batches and remove them only once Solute has
// answered for them. In a browser the queue also lives in localStorage (one key per tab), so that a tab
// that closes leaves its queue for a live tab or the next visit to adopt.
import type { CallOptions, Properties, Solute, SoluteError, SoluteEvent, SoluteOptions } from './index.js';
import { backoff, campaign, retryAfterMs, utf8Bytes, uuid } from './util.js';

const BATCH_EVENTS = 100; // the spec: batches of up to 100 events
const BATCH_BYTES = 500_000; // well under Solute's default body limit (1 MiB); a smaller limit answers 413 and the batch is split
// Browsers refuse keepalive requests once the bodies in flight from a page pass 64 KiB; stay under it, envelope included.
const KEEPALIVE_BYTES = 65_536 - 1024;
const ENVELOPE = 64; // {"batch":[],"sentAt":"..."}
const SESSION_IDLE = 30 * 60_000;
const SESSION_MAX = 24 * 3_600_000;
const STALE_TAB = 300_000; // without Web Locks: a tab whose heartbeat is this old is taken for closed
const SETTLE = 1000; // a closed tab's queue is adopted once its key has been quiet this long (see adoptSoon)
const COOKIE = 'solute_aid';

/** A queued event: its JSON, when it was queued, its UTF-8 bytes, its queue order; in a keepalive request, in a request; done. */
interface Item {
  s: string;
  t: number;
  n: number;
  q: number;
  k?: boolean;
  p?: boolean;
  d?: boolean;
}

type Timer = ReturnType<typeof setTimeout> & { ref?(): void; unref?(): void };

interface Store {
  get(k: string): string | null;
  set(k: string, v: string, memoryToo?: boolean): boolean;
  del(k: string): void;
  keys(): string[];
}

/**
 * localStorage when it can be used, memory otherwise. A write that fails (quota, blocked storage)
 * keeps the value in memory and removes the stale stored one, so nothing older is read back later.
 */
function store(persist: boolean): Store {
  let ls: Storage | null = null;
  try {
    if (persist) (ls = localStorage).getItem(COOKIE);
  } catch {
    ls = null;
  }
  const mem: Record<string, string> = {};
  const del = (k: string) => {
    delete mem[k];
    try {
      if (ls) ls.removeItem(k);
    } catch {
      // blocked: nothing to remove
    }
  };
  return {
    get(k) {
      if (k in mem) return mem[k];
      try {
        return ls && ls.getItem(k);
      } catch {
        return null;
      }
    },
    set(k, v, memoryToo = true) {
      try {
        ls!.setItem(k, v);
        delete mem[k];
        return true;
      } catch {
        del(k);
        if (memoryToo) mem[k] = v;
        return false;
      }
    },
    del,
    keys() {
      try {
        return ls ? Object.keys(ls) : [];
      } catch {
        return [];
      }
    },
  };
}

function cookie(value?: string, domain?: string): string | null {
  try {
    if (value === undefined) {
      const m = document.cookie.match('(?:^|; )' + COOKIE + '=([^;]*)');
      return m && decodeURIComponent(m[1]);
    }
    document.cookie =
      COOKIE + '=' + encodeURIComponent(value) + '; Max-Age=31536000; Path=/; SameSite=Lax' + (domain ? '; Domain=' + domain : '') + (location.protocol === 'https:' ? '; Secure' : '');
  } catch {
    // cookies blocked: localStorage (or memory) still holds the id
  }
  return null;
}

export function create(o: SoluteOptions): Solute {
  if (!o || !o.writeKey) throw new TypeError('createSolute: writeKey is required');
  const browser = typeof window === 'object' && typeof document === 'object';
  if (!browser && !o.host) throw new TypeError('createSolute: host is required outside a browser');
  const persist = browser && o.persist !== false;
  const st = store(persist);
  const wk = o.writeKey;
  const host = (o.host || '').replace(/\/+$/, '');
  const flushAt = Math.max(1, o.flushAt || 20);
  const interval = o.flushInterval ?? 5000;
  const maxEvents = o.maxQueueEvents || (browser ? 1000 : 100_000);
  const maxBytes = o.maxQueueBytes || (browser ? 1e6 : 128 * 1024 * 1024);
  const maxAge = o.maxEventAge || 7 * 86_400_000;
  const maxRetries = o.maxRetries ?? 10;
  const retryBase = o.retryDelay ?? 1000;
  const retryCap = o.maxRetryDelay ?? 30_000;
  const timeout = o.timeout || 15_000;
  const sessions = o.session ?? browser;
  const concurrency = o.concurrency || (browser ? 1 : 4);
  const send: typeof fetch = (url, init) => (o.fetch || fetch)(url, init);

  // Identity lives under site-wide keys (shared by every write key); queues under the write key's own.
  const P = 'solute.';
  let h = 5381;
  for (let i = 0; i < wk.length; i++) h = ((h * 33) ^ wk.charCodeAt(i)) >>> 0;
  const QP = P + h.toString(36) + '.q.'; // + tab id: a tab's queue (and, with Web Locks, the lock held while it lives)
  const HP = P + h.toString(36) + '.hb.'; // + tab id: its heartbeat, without Web Locks
  const tab = uuid();
  const locks: LockManager | undefined = persist ? (navigator as Navigator).locks : undefined;

  let tz: string | undefined;
  let locale: string | undefined;
  try {
    ({ timeZone: tz, locale } = Intl.DateTimeFormat().resolvedOptions());
  } catch {
    // no Intl: neither is sent
  }

  // The queue is q[head..]: dropping the oldest events moves head instead of copying the array.
  let q: Item[] = [];
  let head = 0;
  const size = () => q.length - head;
  let bytes = 0;
  let seq = 0;
  let timer: Timer | undefined;
  let active = 0; // senders running
  let busy = 0; // events in requests (counted when sent)
  let retrying = false; // a sender waits out a backoff: no other starts meanwhile
  let attempt = 0;
  let batchCap = BATCH_EVENTS;
  let stopped = false;
  let closed = false;
  let closing: Promise<void> | undefined;
  let owned = !persist; // a persisting tab writes its queue only once it holds its lock
  let saving = false;
  let sleeping: { t: Timer; r(): void } | null = null;
  let ctrl: AbortController | null = null;
  let kaBytes = 0;
  let leaving = false; // pagehide seen (and no pageshow since)
  let failing = false; // the last send got no answer, or one to retry: Solute is probably unreachable
  let release: () => void = () => undefined;
  // Locks (this tab's own, and those of the tabs whose queues it took over) are held until close() or the
  // page's end: once taken over, a queue's lock is never granted to another tab, whose copy of
  // localStorage might not show yet that the queue is gone.
  const held = new Promise<void>((r) => (release = r));
  let beatTimer: Timer | undefined;
  const waiters: Array<[number, () => void]> = [];
  const watched: Record<string, 1> = {};
  const settling: Record<string, Timer> = {}; // closed tabs whose queue is adopted once quiet
  const adopted: Record<string, Record<string, 1>> = {}; // per closed tab taken over: its events taken

  const log = (...a: unknown[]) => o.debug && console.log('[solute]', ...a);

  function report(type: SoluteError['type'], message: string, items: Item[], status?: number, code?: string): void {
    log(type, message, status || '', code || '', items.length);
    if (o.onError)
      try {
        o.onError({ type, message, status, code, events: items.map((i) => JSON.parse(i.s)) });
      } catch {
        // the user's handler must not break delivery
      }
  }

  function later(fn: () => void, ms: number): Timer {
    const t = setTimeout(fn, ms) as Timer;
    // Node: timers never keep the process alive, unless someone awaits flush() or close().
    if (!waiters.length && t.unref) t.unref();
    return t;
  }

  // ---- identity, session, context

  function setAid(a: string): void {
    st.set(P + 'aid', a);
    if (persist) cookie(a, o.cookieDomain);
  }
  function aid(): string {
    let a = st.get(P + 'aid');
    if (!a) setAid((a = uuid()));
    return a;
  }
  const uid = () => st.get(P + 'uid') || undefined;
  // The cookie wins: with cookieDomain it carries one id across subdomains.
  if (persist) setAid(cookie() || aid());

  function session(t: number): string {
    let s: { i: string; s: number; l: number } | null = null;
    try {
      s = JSON.parse(st.get(P + 'session') as string);
    } catch {
      // unreadable: a new session
    }
    if (!s || !(t - s.l < SESSION_IDLE) || !(t - s.s < SESSION_MAX)) s = { i: uuid(), s: t, l: t };
    s.l = t;
    st.set(P + 'session', JSON.stringify(s));
    return s.i;
  }

  const pageInfo = () => ({ path: location.pathname, url: location.href, title: document.title, referrer: document.referrer, search: location.search });

  function context(t: number, extra?: Properties): Properties {
    const c: Properties = { library: { name: '@solute-ai/sdk', version: __SDK_VERSION__ } };
    if (sessions) c.sessionId = session(t);
    c.locale = locale;
    c.timezone = tz;
    if (browser) {
      c.page = pageInfo();
      c.userAgent = navigator.userAgent;
      c.locale = navigator.language || locale;
      c.screen = { width: screen.width, height: screen.height, density: devicePixelRatio };
      const cp = campaign(location.search);
      if (cp) c.campaign = cp;
    }
    return extra ? Object.assign(c, extra) : c;
  }

  function call(type: SoluteEvent['type'], fields: Partial<SoluteEvent>, co: CallOptions = {}): void {
    if (closed || st.get(P + 'optout')) return;
    try {
      const t = Date.now();
      let e: SoluteEvent | null | undefined = { type, ...fields } as SoluteEvent;
      const u = co.userId || uid();
      if (u) e.userId = u;
      e.anonymousId = co.anonymousId || aid();
      e.messageId = co.messageId || uuid();
      e.timestamp = new Date(co.timestamp ?? t).toISOString();
      e.context = context(t, co.context);
      if (o.beforeSend) e = o.beforeSend(e);
      if (!e) return void log('dropped by beforeSend');
      const s = JSON.stringify(e);
      log('queued', s);
      enqueue([{ s, t, n: utf8Bytes(s), q: 0 }]);
      save();
      schedule();
    } catch (err) {
      report('drop', 'could not build the event: ' + err, []);
    }
  }

  // ---- the queue

  function enqueue(items: Item[]): void {
    for (const i of items) {
      i.q = ++seq;
      q.push(i);
      bytes += i.n;
    }
    let k = head;
    let b = bytes;
    while (k < q.length && (q.length - k > maxEvents || b > maxBytes)) b -= q[k++].n;
    if (k > head) {
      const gone = q.slice(head, k);
      remove(gone);
      report('drop', 'queue full: oldest events dropped', gone);
    }
  }

  function remove(items: Item[]): void {
    let n = 0;
    for (const i of items)
      if (!i.d) {
        i.d = true;
        bytes -= i.n;
        n++;
      }
    if (!n) return;
    // Usually the oldest events go: move the head rather than copy the whole queue.
    let k = head;
    while (k < q.length && q[k].d) k++;
    if (k - head === n) head = k;
    else (q = q.filter((i) => !i.d)), (head = 0);
    if (head > 1000 && head * 2 > q.length) (q = q.slice(head)), (head = 0);
  }

  /** Takes the oldest events no request carries, up to n events and b bytes; drops expired ones. */
  function take(b: number, n: number, keepalive: boolean): Item[] {
    const out: Item[] = [];
    const expired: Item[] = [];
    const old = Date.now() - maxAge;
    let size = ENVELOPE;
    for (let x = head; x < q.length; x++) {
      const i = q[x];
      if (out.length >= n) break;
      // A keepalive request may carry events a normal request carries too: that one may die with the page.
      if (i.k || (i.p && !keepalive)) continue;
      if (i.t < old) {
        expired.push(i);
        continue;
      }
      // Past the budget: stop (a batch always takes its first event, a keepalive request only what fits).
      if (size + i.n + 1 > b && (keepalive || out.length)) break;
      out.push(i);
      size += i.n + 1;
    }
    if (expired.length) {
      remove(expired);
      report('drop', 'older than maxEventAge', expired);
    }
    return out;
  }

  const body = (b: Item[]) => '{"batch":[' + b.map((i) => i.s).join(',') + '],"sentAt":"' + new Date().toISOString() + '"}';

  function save(): void {
    if (persist && !saving) {
      saving = true;
      queueMicrotask(saveNow);
    }
  }
  /** Writes the tab's queue; once the page is leaving, without the events sent with keepalive (see hide). */
  function saveNow(): void {
    saving = false;
    if (!persist || !owned) return;
    const skip = leaving && !failing;
    const items = q.slice(head).filter((i) => !skip || !i.k);
    if (!items.length) st.del(QP + tab);
    else if (!st.set(QP + tab, items.map((i) => i.t + i.s).join('\n'), false)) log('storage full or blocked: queue kept in memory');
  }
  function parse(v: string): Item[] {
    const out: Item[] = [];
    for (const line of v.split('\n')) {
      const j = line.indexOf('{');
      if (j > 0) out.push({ s: line.slice(j), t: +line.slice(0, j), n: utf8Bytes(line) - j, q: 0 });
    }
    return out;
  }

  // ---- sending

  function schedule(): void {
    if (stopped) return;
    const free = size() - busy;
    if (free > 0 && (free >= flushAt || waiters.length)) kick();
    else if (size() && !timer && !active) timer = later(kick, interval);
  }
  /** Starts senders, up to `concurrency`, while there are events no request carries (none during a backoff). */
  function kick(): void {
    clearTimeout(timer);
    timer = undefined;
    while (!stopped && !retrying && active < concurrency) {
      const b = take(BATCH_BYTES, batchCap, false);
      if (!b.length) break;
      void sender(b);
    }
  }

  /** Resolves the flush() calls whose events are all answered (or all of them, when a send gave up). */
  function settle(all?: boolean): void {
    const first = size() ? q[head].q : Infinity;
    for (let i = waiters.length; i--; )
      if (all || waiters[i][0] < first) {
        waiters[i][1]();
        waiters.splice(i, 1);
      }
  }

  function sleep(ms: number): Promise<void> {
    return new Promise((r) => {
      sleeping = { t: later(() => ((sleeping = null), r()), ms), r };
    });
  }

  function mark(b: Item[], on: boolean): void {
    for (const i of b) i.p = on;
    busy += on ? b.length : -b.length;
  }

  /**
   * Sends batches until none is left. A batch that must be retried is retried as it is (same events, new
   * sentAt) after its backoff, while no other sender starts; after maxRetries it waits for the next flush.
   */
  async function sender(b: Item[]): Promise<void> {
    active++;
    try {
      while (b.length) {
        mark(b, true);
        const r = await post(b);
        if (r !== undefined && r >= 0 && !stopped && !retrying) {
          if (attempt++ < maxRetries) {
            log('retry in', Math.round(r), 'ms');
            retrying = true;
            await sleep(r);
            retrying = false;
            mark(b, false);
            b = b.filter((i) => !i.d);
            continue;
          }
          attempt = 0;
          report('retry', `not delivered after ${maxRetries + 1} attempts; kept queued`, b);
          settle(true);
        }
        mark(b, false);
        if (r === undefined) {
          attempt = 0;
          batchCap = Math.min(BATCH_EVENTS, batchCap * 2);
          kick();
        }
        b = stopped || retrying || (r !== undefined && r >= 0) ? [] : take(BATCH_BYTES, batchCap, false);
      }
    } finally {
      active--;
      settle();
      // Whatever is left (a send that gave up, events in a keepalive request) is looked at again later.
      if (!active && size() && !stopped && !timer) timer = later(kick, interval);
    }
  }

  async function post(b: Item[]): Promise<number | undefined> {
    const c = (ctrl = new AbortController());
    const t = later(() => c.abort(), timeout);
    try {
      log('sending', b.length, 'events');
      const res = await send(host + '/api/events', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-Api-Key': wk },
        body: body(b),
        signal: c.signal,
      });
      return await answer(b, res);
    } catch (err) {
      log('network error', err);
      failing = true;
      return backoff(attempt, retryBase, retryCap, 0);
    } finally {
      clearTimeout(t);
      ctrl = null;
    }
  }

  /** Acts on Solute's answer: undefined when the batch is done with, -1 to split it, else the ms to wait before retrying. */
  async function answer(b: Item[], res: Response): Promise<number | undefined> {
    const s = res.status;
    if (s === 408 || s === 429 || s >= 500) {
      log('answered', s);
      failing = true;
      return backoff(attempt, retryBase, retryCap, retryAfterMs(res.headers.get('Retry-After'), Date.now()));
    }
    let a: { errors?: Array<{ index: number; code?: string; error?: string }>; code?: string; message?: string } = {};
    try {
      a = (await res.json()) || {};
    } catch {
      // not JSON: the status says enough
    }
    if (s === 413 && b.length > 1) {
      batchCap = Math.ceil(b.length / 2);
      return -1;
    }
    if (s < 300 || (a.errors && a.errors.length)) {
      // Accepted, but for the events it names (on 400: every event, none was valid).
      for (const e of a.errors || []) if (b[e.index]) report('event', e.error || 'refused', [b[e.index]], s, e.code);
    } else report('batch', a.message || 'HTTP ' + s, b, s, a.code);
    failing = false;
    remove(b);
    save();
    settle();
    return undefined;
  }

  /**
   * The page is hidden or going away: what fits goes out now with fetch keepalive, which outlives the
   * page. A text/plain POST with the key in the URL needs no CORS preflight (a preflighted keepalive
   * request may not be sent at all once the page is gone); Solute's /v1/batch takes it. When the page
   * is going away (pagehide), the events in keepalive requests are left out of the stored queue, so
   * that no later page sends them again, unless Solute was failing: then they stay, as the rest does,
   * for the next visit or a live tab (and Solute's dedupe absorbs a second copy).
   */
  function hide(gone: boolean): void {
    // pagehide and visibilitychange come in either order; from pagehide on the page is leaving.
    if (gone) leaving = true;
    for (;;) {
      const b = take(KEEPALIVE_BYTES - kaBytes, BATCH_EVENTS, true);
      if (!b.length) break;
      const text = body(b);
      const n = utf8Bytes(text);
      kaBytes += n;
      busy += b.length;
      for (const i of b) i.k = true;
      log('sending', b.length, 'events with keepalive');
      let sent: Promise<Response>;
      try {
        // Called here and now: a request started later (after an await) may not leave a closing page.
        sent = send(host + '/v1/batch?writeKey=' + encodeURIComponent(wk), { method: 'POST', keepalive: true, headers: { 'Content-Type': 'text/plain' }, body: text });
      } catch (err) {
        sent = Promise.reject(err);
      }
      sent
        .then((res) => answer(b, res))
        .catch(() => ((failing = true), 0))
        .then((r) => {
          kaBytes -= n;
          busy -= b.length;
          for (const i of b) i.k = false;
          if (r !== undefined) schedule();
        });
    }
    saveNow();
    // Without Web Locks, a heartbeat of 0 tells the other tabs that this queue is theirs to take.
    if (!locks && persist && owned) leaving && !q.slice(head).some((i) => !i.k) ? st.del(HP + tab) : st.set(HP + tab, leaving ? '0' : '' + Date.now(), false);
  }

  // ---- tabs (browser, persist): each tab owns its queue; a closed tab's queue is adopted once

  function adopt(id: string): void {
    const v = st.get(QP + id);
    if (stopped || v === null) return;
    st.del(QP + id);
    st.del(HP + id);
    // A closed tab's last write can reach this tab's storage after its lock did (they travel apart):
    // the queue then shows up again once adopted. Its events taken already are not queued twice.
    const seen = (adopted[id] ||= {});
    const items = parse(v).filter((i) => !seen[i.s] && (seen[i.s] = 1));
    log('adopted', items.length, 'events of a closed tab');
    enqueue(items);
    saveNow();
    schedule();
  }
  // A closed tab's last writes (the queue without what its keepalive request carried) can reach this
  // tab after its lock does: read too soon, the queue still holds events already sent. So the queue is
  // adopted once its key has had no write for SETTLE ms (each write starts the wait again).
  function adoptSoon(id: string): void {
    clearTimeout(settling[id]);
    settling[id] = later(() => {
      delete settling[id];
      adopt(id);
    }, SETTLE);
  }
  function watch(id: string): void {
    if (id === tab || stopped) return;
    if (locks) {
      // Granted when the owner's lock is free: it has closed (or closes later); then kept (see held).
      if (!watched[id]) {
        watched[id] = 1;
        locks
          .request(QP + id, () => {
            adoptSoon(id);
            return held;
          })
          .catch(() => undefined);
      }
    } else if (!(Date.now() - +(st.get(HP + id) || 0) < STALE_TAB)) adopt(id);
  }
  function scan(): void {
    for (const k of st.keys()) if (k.slice(0, QP.length) === QP) watch(k.slice(QP.length));
  }
  function beat(): void {
    st.set(HP + tab, '' + Date.now(), false);
    scan();
  }

  const onVisibility = () => document.visibilityState === 'hidden' && hide(false);
  const onPageHide = () => hide(true);
  const onPageShow = () => {
    leaving = false;
    if (!locks && persist) beat();
  };
  const onStorage = (e: StorageEvent) => {
    const k = e.key || '';
    if (k.slice(0, QP.length) === QP) {
      const id = k.slice(QP.length);
      // Its lock is held here, so that tab is gone: this is its late last write.
      if (settling[id]) adoptSoon(id);
      else if (adopted[id] && e.newValue !== null) adopt(id);
      else watch(id);
    }
    if (k.slice(0, HP.length) === HP && e.newValue === '0') watch(k.slice(HP.length));
  };
  if (browser) {
    document.addEventListener('visibilitychange', onVisibility);
    addEventListener('pagehide', onPageHide);
    addEventListener('pageshow', onPageShow);
    if (persist) {
      addEventListener('storage', onStorage);
      const own = () => {
        owned = true;
        saveNow();
        scan();
      };
      if (locks)
        locks
          .request(QP + tab, () => {
            own();
            return held;
          })
          .catch(own);
      else {
        own();
        beat();
        beatTimer = setInterval(beat, 60_000) as Timer;
      }
    }
  }

  function flush(): Promise<void> {
    const s = seq;
    if (stopped || !size() || q[head].q > s) return Promise.resolve();
    return new Promise((r) => {
      waiters.push([s, r]);
      if (sleeping && sleeping.t.ref) sleeping.t.ref();
      schedule();
    });
  }

  return {
    track: (event, properties, co) => call('track', { event, properties: properties || {} }, co),
    identify(u, traits, co) {
      if (u && typeof u === 'object') {
        co = traits;
        traits = u;
        u = undefined;
      }
      if (u) st.set(P + 'uid', u);
      call('identify', { traits: traits || {} }, co);
    },
    page: (name, properties, co) =>
      call('page', { name: name ?? undefined, category: co && co.category, properties: { ...(browser ? pageInfo() : {}), ...properties } }, co),
    group: (groupId, traits, co) => call('group', { groupId, traits: traits || {} }, co),
    alias(userId, previousId, co) {
      call('alias', { previousId: previousId || uid() || aid() }, { ...co, userId });
      st.set(P + 'uid', userId);
    },
    flush,
    reset() {
      st.del(P + 'uid');
      st.del(P + 'session');
      setAid(uuid());
    },
    optOut() {
      st.set(P + 'optout', '1');
      remove(q.slice(head));
      saveNow();
      settle();
    },
    optIn: () => st.del(P + 'optout'),
    get anonymousId() {
      return aid();
    },
    get userId() {
      return uid();
    },
    close() {
      return (closing ||= (async () => {
        closed = true;
        let t: Timer | undefined;
        await Promise.race([flush(), new Promise<void>((r) => (t = setTimeout(r, o.closeTimeout ?? 30_000) as Timer))]);
        clearTimeout(t);
        stopped = true;
        clearTimeout(timer);
        clearInterval(beatTimer);
        if (sleeping) clearTimeout(sleeping.t), sleeping.r();
        if (ctrl) ctrl.abort();
        if (browser) {
          document.removeEventListener('visibilitychange', onVisibility);
          removeEventListener('pagehide', onPageHide);
          removeEventListener('storage', onStorage);
          removeEventListener('pageshow', onPageShow);
        }
        saveNow();
        release();
        // In a browser what is left stays in localStorage for the next visit.
        if (size() && !persist) report('drop', 'close() timed out with events undelivered', q.slice(head));
        settle(true);
      })());
    },
  };
}
