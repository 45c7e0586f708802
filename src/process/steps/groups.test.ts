import { describe, expect, it } from 'vitest';
import type { LogLine } from '../../contracts/log-line.js';
import { groupIds, resolveGroups } from './groups.js';

let seq = 0;
function group(groupId: unknown, f: { u?: string; a?: string; t: number; traits?: Record<string, unknown> }): LogLine {
  seq++;
  return { p: 'p', s: seq, t: f.t, y: 'group', n: null, u: f.u ?? null, a: f.a ?? null, m: `g${seq}`, e: { type: 'group', groupId, traits: f.traits } };
}

describe('group step', () => {
  it('creates a group with its traits and records each member once, with the earliest time', () => {
    const out = resolveGroups(
      [group('acme', { u: 'u1', t: 20, traits: { plan: 'pro' } }), group('acme', { u: 'u1', t: 10 }), group('acme', { a: 'anon', t: 30, traits: { plan: 'team', size: 5 } })],
      { groups: new Map() },
    );
    expect(out.failed).toEqual([]);
    expect(out.changes.groups).toEqual([{ groupId: 'acme', traits: { plan: 'team', size: 5 }, traitTs: { plan: 30, size: 30 }, warnings: {} }]);
    expect(out.changes.members.sort((a, b) => a.member.localeCompare(b.member))).toEqual([
      { groupId: 'acme', member: 'anon', since: 30 },
      { groupId: 'acme', member: 'u1', since: 10 },
    ]);
  });

  it('merges into stored traits, an older event not overwriting a newer trait', () => {
    const stored = { groupId: 'acme', traits: { plan: 'enterprise' }, traitTs: { plan: 100 }, warnings: {} };
    const out = resolveGroups([group('acme', { u: 'u1', t: 50, traits: { plan: 'free', region: 'eu' } })], { groups: new Map([['acme', stored]]) });
    expect(out.changes.groups[0].traits).toEqual({ plan: 'enterprise', region: 'eu' });
  });

  it('names the groups a batch needs, and skips other types', () => {
    expect(groupIds([group('a', { u: 'u', t: 1 }), { ...group('b', { u: 'u', t: 1 }), y: 'track' }])).toEqual(['a']);
  });

  it('reports a group event without groupId as failed, the rest goes on', () => {
    const bad = group(42, { u: 'u1', t: 1 });
    const out = resolveGroups([bad, group('ok', { u: 'u1', t: 2 })], { groups: new Map() });
    expect(out.failed).toEqual([{ line: bad, reason: 'group without groupId' }]);
    expect(out.changes.groups.map((g) => g.groupId)).toEqual(['ok']);
  });

  it('keeps group traits within the bounds, trims a stored group past them, and records both on the group', () => {
    const b = { maxTraits: 2, maxTraitsBytes: 1000, maxLinkedIds: 10, maxLinkedIdsBytes: 1000 };
    const stored = { groupId: 'big', traits: { a: 1, b: 2, c: 3 }, traitTs: { a: 3, b: 2, c: 1 }, warnings: {} };
    const touch = group('big', { u: 'u1', t: 10, traits: { d: 4 } });
    const out = resolveGroups([touch], { groups: new Map([['big', stored]]) }, b);
    expect(out.changes.warnings.map((w) => [w.kind, w.subject])).toEqual([
      ['traits_too_many', 'group'],
      ['traits_too_many', 'group'],
    ]);
    expect(out.changes.warnings[0].detail).toMatch(/past the bound: 1 trait\(s\) removed \("c"\)/);
    expect(out.changes.warnings[1].detail).toMatch(/1 trait\(s\) not applied \("d"\): at most 2 traits per group/);
    expect(out.changes.groups).toEqual([
      { groupId: 'big', traits: { a: 1, b: 2 }, traitTs: { a: 3, b: 2 }, warnings: { traits_too_many: { count: 2, lastMessageId: touch.m, lastAt: 10, detail: out.changes.warnings[1].detail } } },
    ]);
    expect(out.changes.members).toEqual([{ groupId: 'big', member: 'u1', since: 10 }]);
  });
});
