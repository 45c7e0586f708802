// The store port's contract: what every EventStore + ProfileReader adapter must do, run unchanged
// against each (duckdb-store.test.ts, pg-store.test.ts). Batches are built here as the log would
// hold them and go through the real identity and group steps; expected answers are computed here.
import { afterEach, describe, expect, it } from 'vitest';
import type { LogLine } from '../../src/contracts/log-line.js';
import type { DeadLetterInput, EventFilter, EventStore, ProcessedLine, StoreBatch } from '../../src/contracts/event-store.js';
import type { ProfileReader } from '../../src/contracts/profiles.js';
import { BATCH_STEPS, createBatchSteps } from '../../src/process/pipeline.js';

export interface StoreUnderTest {
  store: EventStore & ProfileReader;
  close(): Promise<void>;
  /** The merge warnings the store recorded for a project (not part of the port: read from its tables). */
  warnings(project: string): Promise<Array<{ messageId: string; kind: string }>>;
  /**
   * Whether the store itself refuses a message id stored by an earlier batch. PostgreSQL must (many
   * ingest nodes, each knowing only its own recent keys); the embedded store leaves it to the
   * ack-time dedupe index, exact inside its window, and checks it only on dead-letter replays.
   */
  dedupesAcrossBatches: boolean;
}

export type StoreFactory = () => Promise<StoreUnderTest>;

const T0 = Date.UTC(2026, 0, 1);
let seq = 0;
let msg = 0;

interface LineSpec {
  p?: string;
  y?: string;
  n?: string | null;
  u?: string | null;
  a?: string | null;
  m?: string;
  t?: number;
  e?: Record<string, unknown>;
}

/** A log line as ingest writes it: indexed fields repeated from the event. */
function line(spec: LineSpec = {}): LogLine {
  const y = spec.y ?? 'track';
  const t = spec.t ?? T0;
  const m = spec.m ?? `msg-${++msg}`;
  const n = spec.n === undefined ? (y === 'track' ? 'Clicked' : null) : spec.n;
  const e: Record<string, unknown> = { type: y, messageId: m, timestamp: new Date(t).toISOString() };
  if (n !== null) e.event = n;
  if (spec.u) e.userId = spec.u;
  if (spec.a) e.anonymousId = spec.a;
  Object.assign(e, spec.e ?? {});
  return { p: spec.p ?? 'p1', s: ++seq, t, y, n, u: spec.u ?? null, a: spec.a ?? null, m, i: null, e };
}

function batch(segment: number, lines: LogLine[], deadLetters: DeadLetterInput[] = []): StoreBatch {
  return { segment, lines: lines.map((l, index): ProcessedLine => ({ index, raw: JSON.stringify(l), line: l })), deadLetters };
}

/** Newest first, then the later line first (the order queryEvents promises). */
function newestFirst(lines: LogLine[]): LogLine[] {
  return [...lines].sort((x, y) => y.t - x.t || y.s - x.s);
}

async function all(store: EventStore, project: string, f: Omit<EventFilter, 'limit' | 'cursor'>, limit = 1000) {
  const out: Array<Record<string, unknown>> = [];
  let cursor: EventFilter['cursor'];
  for (let pages = 0; pages < 1000; pages++) {
    const page = await store.queryEvents(project, { ...f, limit, cursor });
    out.push(...page.events);
    if (page.next === null) return out;
    cursor = page.next;
  }
  throw new Error('too many pages');
}

export function eventStoreContract(name: string, factory: StoreFactory): void {
  describe(`EventStore contract: ${name}`, () => {
    let open: StoreUnderTest[] = [];
    const make = async () => {
      const s = await factory();
      open.push(s);
      return s;
    };
    afterEach(async () => {
      for (const s of open) await s.close();
      open = [];
    });

    describe('commits', () => {
      it('stores a batch once: the same batch id again is a no-op', async () => {
        const { store } = await make();
        expect(await store.lastSegmentId()).toBe(0);
        expect(await store.maxSeq()).toBe(0);
        const lines = [line(), line(), line()];
        expect(await store.commitBatch(batch(7, lines), BATCH_STEPS)).toEqual({ stored: 3, deadLettered: 0 });
        expect(await store.commitBatch(batch(7, [...lines, line()]), BATCH_STEPS)).toEqual({ stored: 0, deadLettered: 0 });
        expect(await store.lastSegmentId()).toBe(7);
        expect(await store.countEvents()).toBe(3);
        expect(await store.maxSeq()).toBe(lines[2].s);
      });

      it('stores a message id once per project, across batches and within one', async (ctx) => {
        const { store, dedupesAcrossBatches } = await make();
        if (!dedupesAcrossBatches) ctx.skip(); // the embedded default dedupes at the acknowledgement (test/integration/dedupe.test.ts)
        const first = line({ m: 'dup-1', e: { properties: { version: 1 } } });
        expect((await store.commitBatch(batch(1, [first, line({ m: 'dup-2' })]), BATCH_STEPS)).stored).toBe(2);
        const again = line({ m: 'dup-1', e: { properties: { version: 2 } } });
        const twice = [line({ m: 'dup-3' }), line({ m: 'dup-3' })];
        const other = line({ m: 'dup-1', p: 'p2' });
        expect((await store.commitBatch(batch(2, [again, ...twice, other]), BATCH_STEPS)).stored).toBe(2);
        expect(await store.countEvents()).toBe(4);
        const page = await store.queryEvents('p1', { messageId: 'dup-1', limit: 10 });
        expect(page.events).toEqual([first.e]);
        expect((await store.queryEvents('p2', { messageId: 'dup-1', limit: 10 })).events).toEqual([other.e]);
      });

      it('gives events back exactly as stored, NUL and U+0001 in values, keys and indexed fields', async () => {
        const { store } = await make();
        const odd = line({
          u: 'user\u0000x',
          a: '\u0001anon',
          n: 'Ev\u0000ent',
          m: 'm\u0000\u0001',
          e: { properties: { s: 'a\u0000b\u0001c', '\u0000key': ['\u0001', { x: '\u0000' }], back: '\\u0000 literal', plain: 'é😀' }, z: 1.5 },
        });
        // The encoded form of odd.u: must stay a different user.
        const lookalike = line({ u: 'user\u0001\u0001x', n: 'Ev\u0001\u0001ent' });
        await store.commitBatch(batch(1, [odd, lookalike]), BATCH_STEPS);
        const byUser = await store.queryEvents('p1', { userId: 'user\u0000x', limit: 10 });
        expect(byUser.events).toEqual([odd.e]);
        expect(JSON.stringify(byUser.events[0])).toBe(JSON.stringify(odd.e)); // key order too
        expect((await store.queryEvents('p1', { userId: 'user\u0001\u0001x', limit: 10 })).events).toEqual([lookalike.e]);
        expect((await store.queryEvents('p1', { event: 'Ev\u0000ent', limit: 10 })).events).toEqual([odd.e]);
        expect((await store.queryEvents('p1', { anonymousId: '\u0001anon', limit: 10 })).events).toEqual([odd.e]);
        expect((await store.queryEvents('p1', { messageId: 'm\u0000\u0001', limit: 10 })).events).toEqual([odd.e]);
        expect((await store.profile('p1', 'user\u0000x', 5))?.recentEvents).toEqual([odd.e]);
      });
    });

    describe('queryEvents', () => {
      const project = 'q';
      const lines: LogLine[] = [];
      for (let i = 0; i < 30; i++) {
        lines.push(
          line({
            p: project,
            y: i % 5 === 0 ? 'page' : 'track',
            n: i % 5 === 0 ? null : `E${i % 3}`,
            u: i % 4 === 0 ? null : `u${i % 3}`,
            a: `a${i % 2}`,
            t: T0 + Math.floor(i / 3) * 1000, // three events per timestamp: ties
          }),
        );
      }
      const cases: Array<[string, Omit<EventFilter, 'limit' | 'cursor'>, (l: LogLine) => boolean]> = [
        ['no filter', {}, () => true],
        ['type', { type: 'page' }, (l) => l.y === 'page'],
        ['event', { event: 'E1' }, (l) => l.n === 'E1'],
        ['userId', { userId: 'u2' }, (l) => l.u === 'u2'],
        ['anonymousId', { anonymousId: 'a1' }, (l) => l.a === 'a1'],
        ['messageId', { messageId: lines[4].m }, (l) => l.m === lines[4].m],
        ['from/to', { from: T0 + 2000, to: T0 + 5000 }, (l) => l.t >= T0 + 2000 && l.t < T0 + 5000],
        ['combined', { type: 'track', anonymousId: 'a0', from: T0 + 1000 }, (l) => l.y === 'track' && l.a === 'a0' && l.t >= T0 + 1000],
      ];

      it('answers each filter, newest first (ties: later line first), in pages without overlap or gap', async () => {
        const { store } = await make();
        // Two batches, the later one first: order comes from ts, not from commit order.
        await store.commitBatch(batch(2, lines.slice(15)), BATCH_STEPS);
        await store.commitBatch(batch(1, lines.slice(0, 15)), BATCH_STEPS);
        await store.commitBatch(batch(3, [line({ p: 'other' })]), BATCH_STEPS);
        for (const [label, filter, match] of cases) {
          const expected = newestFirst(lines.filter(match)).map((l) => l.e);
          for (const limit of [1, 4, 7, 1000]) {
            const got = await all(store, project, filter, limit);
            expect(got.map((e) => e.messageId), `${label}, limit ${limit}`).toEqual(expected.map((e) => e.messageId));
          }
        }
        const first = await store.queryEvents(project, { limit: 30 });
        expect(first.next).toBeNull();
        const short = await store.queryEvents(project, { limit: 29 });
        expect(short.next).not.toBeNull();
        expect((await store.queryEvents(project, { limit: 29, cursor: short.next! })).events).toEqual([lines[0].e]);
      });
    });

    describe('dead letters', () => {
      it('keeps failed lines with their step, lists them oldest first, filters and pages', async () => {
        const { store } = await make();
        const parseFailed: DeadLetterInput = { segment: 1, index: 1, project: null, step: 'parse', reason: 'Unexpected token', raw: '{"p":' };
        const enrichFailed: DeadLetterInput = { segment: 1, index: 3, project: 'p1', step: 'enrich', reason: 'poisoned\u0000', raw: '{"x":"\u0000"}' };
        const noIds = line({ y: 'identify' });
        const r = await store.commitBatch(batch(1, [line(), noIds, line()], [parseFailed, enrichFailed]), BATCH_STEPS);
        expect(r).toEqual({ stored: 2, deadLettered: 3 });
        const dead = await store.deadLetters({ limit: 10 });
        expect(dead.map((d) => d.step)).toEqual(['parse', 'enrich', 'identity']);
        expect(dead[0]).toMatchObject({ ...parseFailed, attempts: 1 });
        expect(dead[1]).toMatchObject({ ...enrichFailed, attempts: 1 });
        expect(dead[2]).toMatchObject({ segment: 1, index: 1, project: 'p1', step: 'identity', reason: 'identify without userId or anonymousId', raw: JSON.stringify(noIds) });
        for (const d of dead) expect(d.createdAt).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/);
        expect(dead[0].id).toBeLessThan(dead[1].id);
        expect((await store.deadLetters({ limit: 10, project: 'p1' })).map((d) => d.step)).toEqual(['enrich', 'identity']);
        expect((await store.deadLetters({ limit: 1, afterId: dead[0].id })).map((d) => d.id)).toEqual([dead[1].id]);
        expect((await store.deadLetters({ limit: 10, ids: [dead[2].id, dead[0].id] })).map((d) => d.id)).toEqual([dead[0].id, dead[2].id]);
      });

      it('replays: a stored line leaves the dead letters in the same commit, a failing one stays with attempts + 1', async () => {
        const { store } = await make();
        const fixed = line({ e: { properties: { n: 1 } } });
        const stillBad = line();
        const dup = line();
        const dl = (l: LogLine, index: number): DeadLetterInput => ({ segment: 1, index, project: 'p1', step: 'enrich', reason: 'bug', raw: JSON.stringify(l) });
        await store.commitBatch(batch(1, [dup], [dl(fixed, 1), dl(stillBad, 2), dl(dup, 3)]), BATCH_STEPS);
        const [a, b, c] = await store.deadLetters({ limit: 10 });
        const pl = (l: LogLine, id: number, index: number) => ({ index, raw: JSON.stringify(l), line: l, deadLetterId: id });
        const r = await store.commitReplay([pl(fixed, a.id, 1), pl(dup, c.id, 3)], [{ deadLetterId: b.id, step: 'enrich', reason: 'still broken' }, { deadLetterId: 999_999, step: 'x', reason: 'y' }], BATCH_STEPS);
        // The duplicate of a stored event is not stored twice, and its dead letter is done with.
        expect(r).toEqual({ stored: 1, failed: 1, missing: 1 });
        expect(await store.countEvents()).toBe(2);
        expect((await store.queryEvents('p1', { messageId: fixed.m, limit: 5 })).events).toEqual([fixed.e]);
        const left = await store.deadLetters({ limit: 10 });
        expect(left).toHaveLength(1);
        expect(left[0]).toMatchObject({ id: b.id, step: 'enrich', reason: 'still broken', attempts: 2 });
        // Replaying the same (now gone) dead letter again stores nothing.
        expect(await store.commitReplay([pl(fixed, a.id, 1)], [], BATCH_STEPS)).toEqual({ stored: 0, failed: 0, missing: 1 });
        expect(await store.countEvents()).toBe(2);
      });

      it('replays identity lines through the identity step, and keeps those it still refuses', async () => {
        const { store } = await make();
        const ident = line({ y: 'identify', u: 'rep-user', a: 'rep-anon', e: { traits: { plan: 'pro' } } });
        const noIds = line({ y: 'identify' });
        await store.commitBatch(batch(1, [], [
          { segment: 1, index: 0, project: 'p1', step: 'enrich', reason: 'bug', raw: JSON.stringify(ident) },
          { segment: 1, index: 1, project: 'p1', step: 'enrich', reason: 'bug', raw: JSON.stringify(noIds) },
        ]), BATCH_STEPS);
        const [a, b] = await store.deadLetters({ limit: 10 });
        const r = await store.commitReplay(
          [{ index: 0, raw: JSON.stringify(ident), line: ident, deadLetterId: a.id }, { index: 1, raw: JSON.stringify(noIds), line: noIds, deadLetterId: b.id }],
          [],
          BATCH_STEPS,
        );
        expect(r).toEqual({ stored: 1, failed: 1, missing: 0 });
        expect(await store.profile('p1', 'rep-anon', 5)).toMatchObject({ userId: 'rep-user', traits: { plan: 'pro' }, ids: ['rep-anon', 'rep-user'] });
        expect((await store.deadLetters({ limit: 10 }))[0]).toMatchObject({ id: b.id, step: 'identity', attempts: 2 });
      });
    });

    describe('profiles', () => {
      it('attributes anonymous events sent before identify to the user once the link exists', async () => {
        const { store } = await make();
        const before = [0, 1, 2].map((i) => line({ a: 'anon-A', t: T0 + i * 60_000 }));
        await store.commitBatch(batch(1, before), BATCH_STEPS);
        expect(await store.profile('p1', 'anon-A', 10)).toMatchObject({ userId: null, traits: {}, ids: ['anon-A'], eventCount: 3, firstSeen: T0, lastSeen: T0 + 120_000 });
        const ident = line({ y: 'identify', u: 'user-A', a: 'anon-A', t: T0 + 3_600_000, e: { traits: { plan: 'free' } } });
        await store.commitBatch(batch(2, [ident]), BATCH_STEPS);
        // Tracked with both ids: a userId wins, the event is the user's.
        const after = line({ u: 'user-A', a: 'anon-Z', t: T0 + 7_200_000 });
        // Another user's event with the same anonymousId is not this profile's.
        const stranger = line({ u: 'user-X', a: 'anon-A', t: T0 + 7_300_000 });
        await store.commitBatch(batch(3, [after, stranger]), BATCH_STEPS);
        for (const id of ['user-A', 'anon-A']) {
          const p = await store.profile('p1', id, 2);
          expect(p).toEqual({
            userId: 'user-A',
            traits: { plan: 'free' },
            ids: ['anon-A', 'user-A'],
            firstSeen: T0,
            lastSeen: T0 + 7_200_000,
            eventCount: 5,
            recentEvents: [after.e, ident.e],
            warnings: {},
          });
        }
        // An id seen only on events (never in identify/alias) has a profile of its events alone.
        expect(await store.profile('p1', 'user-X', 5)).toMatchObject({ userId: null, ids: ['user-X'], eventCount: 1 });
        expect(await store.profile('p1', 'nobody', 5)).toBeNull();
        expect(await store.profile('p2', 'user-A', 5)).toBeNull();
      });

      it('refuses to merge two identified users, records a warning, and still stores the event', async () => {
        const s = await make();
        await s.store.commitBatch(batch(1, [line({ y: 'identify', u: 'u-1', a: 'a-1' }), line({ y: 'identify', u: 'u-2', a: 'a-2' })]), BATCH_STEPS);
        const refused = line({ y: 'identify', u: 'u-2', a: 'a-1', e: { traits: { name: 'Two' } } });
        const warning = { messageId: refused.m, subject: 'profile', kind: 'merge_refused', detail: expect.stringMatching(/u-1.*u-2|u-2.*u-1/) };
        expect(await s.store.commitBatch(batch(2, [refused]), BATCH_STEPS)).toEqual({ stored: 1, deadLettered: 0, warnings: [warning] });
        expect(await s.store.profile('p1', 'a-1', 5)).toMatchObject({ userId: 'u-1', ids: ['a-1', 'u-1'], traits: {}, warnings: {} });
        // The profile of the userId the event named keeps a summary of it.
        expect(await s.store.profile('p1', 'u-2', 5)).toMatchObject({
          userId: 'u-2',
          ids: ['a-2', 'u-2'],
          traits: { name: 'Two' },
          warnings: { merge_refused: { count: 1, lastMessageId: refused.m, lastAt: refused.t, detail: warning.detail } },
        });
        expect(await s.warnings('p1')).toEqual([{ messageId: refused.m, kind: 'merge_refused' }]);
      });

      it('keeps the latest trait by timestamp when identifies arrive out of order, in one batch or several', async () => {
        const { store } = await make();
        const newer = line({ y: 'identify', u: 'user-B', t: T0 + 86_400_000, e: { traits: { plan: 'pro', email: 'b@new.example' } } });
        const older = line({ y: 'identify', u: 'user-B', t: T0, e: { traits: { plan: 'free', name: 'Bee' } } });
        await store.commitBatch(batch(1, [newer]), BATCH_STEPS);
        await store.commitBatch(batch(2, [older]), BATCH_STEPS);
        expect((await store.profile('p1', 'user-B', 0))?.traits).toEqual({ plan: 'pro', email: 'b@new.example', name: 'Bee' });
        await store.commitBatch(batch(3, [line({ y: 'identify', u: 'user-C', t: T0 + 5, e: { traits: { x: 2 } } }), line({ y: 'identify', u: 'user-C', t: T0, e: { traits: { x: 1, y: 1 } } })]), BATCH_STEPS);
        expect((await store.profile('p1', 'user-C', 0))?.traits).toEqual({ x: 2, y: 1 });
      });

      it('follows an alias chain across batches', async () => {
        const { store } = await make();
        await store.commitBatch(batch(1, [line({ y: 'alias', u: 'chain-2', e: { previousId: 'chain-1' } })]), BATCH_STEPS);
        await store.commitBatch(batch(2, [line({ y: 'alias', u: 'user-C', e: { previousId: 'chain-2' } })]), BATCH_STEPS);
        await store.commitBatch(batch(3, [line({ y: 'identify', u: 'user-C', e: { traits: { n: 3 } } }), line({ a: 'chain-1' })]), BATCH_STEPS);
        for (const id of ['chain-1', 'chain-2', 'user-C']) {
          expect(await store.profile('p1', id, 5)).toMatchObject({ userId: 'user-C', traits: { n: 3 }, ids: ['chain-1', 'chain-2', 'user-C'], eventCount: 4 });
        }
      });

      it('searches profiles by trait value as text, in pages', async () => {
        const { store } = await make();
        const idents = [
          line({ y: 'identify', u: 's-1', e: { traits: { plan: 'pro', seats: 5, paid: true } } }),
          line({ y: 'identify', u: 's-2', e: { traits: { plan: 'pro', seats: '5' } } }),
          line({ y: 'identify', u: 's-3', e: { traits: { plan: 'free\u0000', seats: null } } }),
          line({ y: 'identify', a: 's-4', e: { traits: { plan: 'pro' } } }),
        ];
        await store.commitBatch(batch(1, idents), BATCH_STEPS);
        const ids = async (search: Parameters<ProfileReader['profiles']>[1]) => (await store.profiles('p1', search)).profiles.map((p) => p.ids.join(','));
        expect(await ids({ trait: { key: 'plan', value: 'pro' }, limit: 10 })).toEqual(['s-1', 's-2', 's-4']);
        expect(await ids({ trait: { key: 'seats', value: '5' }, limit: 10 })).toEqual(['s-1', 's-2']);
        expect(await ids({ trait: { key: 'paid', value: 'true' }, limit: 10 })).toEqual(['s-1']);
        expect(await ids({ trait: { key: 'seats', value: 'null' }, limit: 10 })).toEqual([]);
        expect(await ids({ trait: { key: 'plan', value: 'free\u0000' }, limit: 10 })).toEqual(['s-3']);
        expect(await ids({ trait: { key: 'seats' }, limit: 10 })).toEqual(['s-1', 's-2', 's-3']);
        const first = await store.profiles('p1', { limit: 3 });
        expect(first.profiles).toEqual([
          { userId: 's-1', traits: { plan: 'pro', seats: 5, paid: true }, ids: ['s-1'] },
          { userId: 's-2', traits: { plan: 'pro', seats: '5' }, ids: ['s-2'] },
          { userId: 's-3', traits: { plan: 'free\u0000', seats: null }, ids: ['s-3'] },
        ]);
        expect(first.next).not.toBeNull();
        const second = await store.profiles('p1', { limit: 3, after: first.next! });
        expect(second).toEqual({ profiles: [{ userId: null, traits: { plan: 'pro' }, ids: ['s-4'] }], next: null });
      });
    });

    describe('groups', () => {
      it('keeps group traits by timestamp and each member once, with the earliest time, in member pages', async () => {
        const { store } = await make();
        await store.commitBatch(
          batch(1, [
            line({ y: 'group', u: 'm-b', t: T0 + 100, e: { groupId: 'g1', traits: { name: 'New', size: 2 } } }),
            line({ y: 'group', a: 'm-a', t: T0 + 50, e: { groupId: 'g1', traits: { name: 'Old' } } }),
          ]),
          BATCH_STEPS,
        );
        await store.commitBatch(
          batch(2, [
            line({ y: 'group', u: 'm-b', t: T0 + 10, e: { groupId: 'g1' } }),
            line({ y: 'group', u: 'm-c', t: T0 + 200, e: { groupId: 'g1', traits: { tier: 'gold' } } }),
            line({ y: 'group', u: 'm-c', t: T0 + 300, e: { groupId: 'g2' } }),
          ]),
          BATCH_STEPS,
        );
        const g = await store.group('p1', 'g1', { limit: 2 });
        expect(g).toEqual({
          groupId: 'g1',
          traits: { name: 'New', size: 2, tier: 'gold' },
          memberCount: 3,
          members: [
            { id: 'm-a', since: T0 + 50 },
            { id: 'm-b', since: T0 + 10 },
          ],
          nextMember: 'm-b',
          warnings: {},
        });
        expect(await store.group('p1', 'g1', { limit: 2, after: 'm-b' })).toMatchObject({ members: [{ id: 'm-c', since: T0 + 200 }], nextMember: null });
        expect(await store.group('p1', 'g2', { limit: 10 })).toMatchObject({ traits: {}, memberCount: 1 });
        expect(await store.group('p1', 'nope', { limit: 10 })).toBeNull();
        expect(await store.group('p2', 'g1', { limit: 10 })).toBeNull();
      });
    });

    describe('bounds on profiles and groups (small bounds here: 3 traits, 200 bytes of traits, 3 ids, 64 bytes of ids)', () => {
      const small = createBatchSteps({ maxTraits: 3, maxTraitsBytes: 200, maxLinkedIds: 3, maxLinkedIdsBytes: 64 });
      const kinds = (r: { warnings?: Array<{ kind: string; subject: string }> }) => (r.warnings ?? []).map((w) => `${w.subject}:${w.kind}`);

      it('applies what fits, stores every event, and records what did not fit as warnings', async () => {
        const { store } = await make();
        const first = line({ y: 'identify', u: 'b-1', t: T0, e: { traits: { a: 1, b: 2, c: 3 } } });
        expect(await store.commitBatch(batch(1, [first]), small)).toEqual({ stored: 1, deadLettered: 0 });
        // An update of a trait it has applies; new traits past the count do not.
        const more = line({ y: 'identify', u: 'b-1', t: T0 + 1, e: { traits: { a: 10, d: 4, e: 5 } } });
        const r = await store.commitBatch(batch(2, [more]), small);
        expect(r).toMatchObject({ stored: 1, deadLettered: 0 });
        expect(kinds(r)).toEqual(['profile:traits_too_many']);
        expect(r.warnings![0].detail).toMatch(/2 trait\(s\) not applied \("d", "e"\).*at most 3 traits per profile \(SOLUTE_MAX_TRAITS\)/);
        // A value that would take the traits past 200 bytes is not applied; one that shrinks them is.
        const big = line({ y: 'identify', u: 'b-1', t: T0 + 2, e: { traits: { b: 'x'.repeat(300), c: null } } });
        expect(kinds(await store.commitBatch(batch(3, [big]), small))).toEqual(['profile:traits_too_large']);
        const p = await store.profile('p1', 'b-1', 0);
        expect(p).toMatchObject({ traits: { a: 10, b: 2, c: null }, eventCount: 3 });
        expect(p!.warnings).toEqual({
          traits_too_many: { count: 1, lastMessageId: more.m, lastAt: more.t, detail: r.warnings![0].detail },
          traits_too_large: { count: 1, lastMessageId: big.m, lastAt: big.t, detail: expect.stringMatching(/at most 200 bytes of traits per profile \(SOLUTE_MAX_TRAITS_BYTES\)/) },
        });
        expect(JSON.stringify(p!.traits).length).toBeLessThanOrEqual(200);
      });

      it('refuses a merge that would link too many ids, or too many bytes of ids, like a refused merge', async () => {
        const s = await make();
        const { store } = s;
        await store.commitBatch(batch(1, [line({ y: 'identify', u: 'l-1', a: 'l-a1' }), line({ y: 'alias', u: 'l-1', e: { previousId: 'l-a2' } })]), small);
        expect((await store.profile('p1', 'l-1', 0))!.ids).toEqual(['l-1', 'l-a1', 'l-a2']);
        const refused = line({ y: 'identify', u: 'l-1', a: 'l-a3', e: { traits: { plan: 'pro' } } });
        const r = await store.commitBatch(batch(2, [refused]), small);
        expect(r).toMatchObject({ stored: 1, deadLettered: 0 });
        expect(kinds(r)).toEqual(['profile:linked_ids_too_many']);
        // The profiles stay apart, the event's traits go to its userId's profile, its events to each.
        expect(await store.profile('p1', 'l-1', 0)).toMatchObject({ ids: ['l-1', 'l-a1', 'l-a2'], traits: { plan: 'pro' }, warnings: { linked_ids_too_many: { count: 1 } } });
        expect(await store.profile('p1', 'l-a3', 0)).toMatchObject({ userId: null, ids: ['l-a3'] });
        // Bytes: two ids of 40 bytes are 80 > 64.
        const [x, y] = ['x'.repeat(40), 'y'.repeat(40)];
        const tooLarge = await store.commitBatch(batch(3, [line({ y: 'identify', u: x, a: y })]), small);
        expect(kinds(tooLarge)).toEqual(['profile:linked_ids_too_large']);
        expect((await store.profile('p1', y, 0))!.ids).toEqual([y]);
        expect((await s.warnings('p1')).map((w) => w.kind)).toEqual(['linked_ids_too_many', 'linked_ids_too_large']);
      });

      it('bounds group traits the same way', async () => {
        const { store } = await make();
        const g = line({ y: 'group', u: 'g-m', e: { groupId: 'g-b', traits: { a: 1, b: 2, c: 3, d: 4 } } });
        const r = await store.commitBatch(batch(1, [g]), small);
        expect(kinds(r)).toEqual(['group:traits_too_many']);
        expect(await store.group('p1', 'g-b', { limit: 10 })).toMatchObject({
          traits: { a: 1, b: 2, c: 3 },
          memberCount: 1,
          warnings: { traits_too_many: { count: 1, lastMessageId: g.m } },
        });
      });

      it('trims traits already past a bound when a batch next touches them (the latest kept), and keeps links past it as they are', async () => {
        const { store } = await make();
        // Written under larger bounds: 5 traits set at different times, 4 ids.
        await store.commitBatch(
          batch(1, [
            line({ y: 'identify', u: 'o-1', a: 'o-a1', t: T0, e: { traits: { t0: 0, t4: 4 } } }),
            line({ y: 'identify', u: 'o-1', a: 'o-a2', t: T0 + 1, e: { traits: { t1: 1 } } }),
            line({ y: 'identify', u: 'o-1', a: 'o-a3', t: T0 + 3, e: { traits: { t3: 3 } } }),
            line({ y: 'identify', u: 'o-1', t: T0 + 2, e: { traits: { t2: 2 } } }),
            line({ y: 'group', u: 'o-1', t: T0, e: { groupId: 'o-g', traits: { a: 1, b: 2, c: 3, d: 4 } } }),
          ]),
          BATCH_STEPS,
        );
        expect((await store.profile('p1', 'o-1', 0))!.ids).toHaveLength(4);
        // Under the small bounds, an identify without traits touches it.
        const touch = line({ y: 'identify', u: 'o-1', t: T0 + 10 });
        const r = await store.commitBatch(batch(2, [touch, line({ y: 'group', u: 'o-1', t: T0 + 10, e: { groupId: 'o-g' } })]), small);
        expect(kinds(r)).toEqual(['profile:traits_too_many', 'group:traits_too_many']);
        // The most recently set are kept: t3, t2, t1; t0 and t4 were both set at T0 (ties: the earlier key kept first).
        expect(r.warnings![0].detail).toMatch(/past the bound: 2 trait\(s\) removed \("t0", "t4"\), the most recently set kept/);
        const p = await store.profile('p1', 'o-1', 0);
        expect(p!.traits).toEqual({ t1: 1, t3: 3, t2: 2 });
        // Linked ids past the bound stay; no merge adds to them.
        const refused = await store.commitBatch(batch(3, [line({ y: 'identify', u: 'o-1', a: 'o-a4' })]), small);
        expect(kinds(refused)).toEqual(['profile:linked_ids_too_many']);
        expect((await store.profile('p1', 'o-1', 0))!.ids).toEqual(['o-1', 'o-a1', 'o-a2', 'o-a3']);
        expect((await store.group('p1', 'o-g', { limit: 1 }))!.traits).toEqual({ a: 1, b: 2, c: 3 });
      });
    });

    describe('dry runs', () => {
      it('returns what a commit would, and writes nothing', async () => {
        const { store } = await make();
        const lines = [line({ y: 'identify', u: 'd-1', a: 'd-a', e: { traits: { x: 1 } } }), line({ u: 'd-1' }), line({ y: 'identify' })];
        const dead: DeadLetterInput = { segment: 5, index: 9, project: 'p1', step: 'parse', reason: 'bad', raw: '{' };
        expect(await store.commitBatch(batch(5, lines, [dead]), BATCH_STEPS, { dryRun: true })).toEqual({ stored: 2, deadLettered: 2 });
        expect(await store.lastSegmentId()).toBe(0);
        expect(await store.countEvents()).toBe(0);
        expect(await store.deadLetters({ limit: 10 })).toEqual([]);
        expect(await store.profile('p1', 'd-1', 0)).toBeNull();
        // The real commit of the same batch afterwards.
        expect(await store.commitBatch(batch(5, lines, [dead]), BATCH_STEPS)).toEqual({ stored: 2, deadLettered: 2 });
        expect(await store.profile('p1', 'd-a', 0)).toMatchObject({ userId: 'd-1', traits: { x: 1 } });
      });
    });
  });
}
