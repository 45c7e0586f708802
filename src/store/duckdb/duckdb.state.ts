// Profiles and groups in DuckDB: load the state a batch's stateful steps need, and apply what they
// decided. Runs on the writer connection inside the batch's transaction.
import { setApartFailed, statefulLinesByProject } from '../stateful-lines.js';
import { inStep } from '../../lib/step-error.js';
import { DOUBLE, LIST, VARCHAR, listValue, type DuckDBConnection } from '@duckdb/node-api';
import type { LogLine } from '../../contracts/log-line.js';
import type { BatchSteps, DeadLetterInput, ProcessedLine } from '../../contracts/event-store.js';
import type { GroupChanges, GroupRow, GroupState, IdentityChanges, IdentityState, ProfileRow, StateWarning } from '../../contracts/profiles.js';

const IDS = { ids: LIST(VARCHAR) };
const ids = (values: readonly (string | null)[]) => listValue([...values]);
const nums = (values: readonly number[]) => listValue([...values]);
// Every change is applied with a few set-based statements per batch (lists unnested), never one
// statement per row: DuckDB has no index on these tables, so each statement scans, and a statement per
// profile or membership made a segment with a few hundred identify/group events take seconds.

async function loadIdentity(db: DuckDBConnection, project: string, wanted: string[]): Promise<IdentityState> {
  const state: IdentityState = { links: new Map(), profiles: new Map() };
  if (wanted.length === 0) return state;
  const links = await db.runAndReadAll('SELECT id, profile FROM identities WHERE project = $project AND id IN (SELECT unnest($ids))', { project, ids: ids(wanted) }, IDS);
  for (const [id, profile] of links.getRowsJS() as Array<[string, string]>) state.links.set(id, profile);
  const keys = [...new Set(state.links.values())];
  if (keys.length === 0) return state;
  const rows = await db.runAndReadAll(
    `SELECT profile, user_id, traits::VARCHAR, trait_ts::VARCHAR, id_count::DOUBLE, id_bytes::DOUBLE, warnings::VARCHAR
     FROM profiles WHERE project = $project AND profile IN (SELECT unnest($ids))`,
    { project, ids: ids(keys) },
    IDS,
  );
  for (const [profile, userId, traits, traitTs, idCount, idBytes, warnings] of rows.getRowsJS() as Array<[string, string | null, string, string, number, number, string]>) {
    state.profiles.set(profile, { profile, userId, traits: JSON.parse(traits), traitTs: JSON.parse(traitTs), idCount, idBytes, warnings: JSON.parse(warnings) });
  }
  return state;
}

/**
 * The repoints, applied in order one after another ("every id that pointed at `from` now points at
 * `to`"), as one mapping from each stored profile to where its ids end up: one UPDATE instead of one
 * per repoint. A later repoint moves what earlier ones moved to its `from`; a `from` whose ids have
 * moved already keeps its first target (no stored id points at it any more).
 */
export function composeRepoints(repoints: ReadonlyArray<{ from: string; to: string }>): Map<string, string> {
  const target = new Map<string, string>();
  const sources = new Map<string, Set<string>>(); // target → the stored profiles mapped to it
  const point = (from: string, to: string) => {
    target.set(from, to);
    let set = sources.get(to);
    if (!set) sources.set(to, (set = new Set()));
    set.add(from);
  };
  for (const { from, to } of repoints) {
    if (from === to) continue;
    const moved = sources.get(from);
    if (moved) {
      sources.delete(from);
      for (const k of moved) point(k, to);
    }
    if (!target.has(from)) point(from, to);
  }
  for (const [k, v] of target) if (k === v) target.delete(k);
  return target;
}

async function applyIdentity(db: DuckDBConnection, project: string, c: IdentityChanges): Promise<void> {
  const moves = composeRepoints(c.repoints);
  if (moves.size > 0) {
    await db.run(
      'UPDATE identities SET profile = m.t FROM (SELECT unnest($f) AS f, unnest($t) AS t) m WHERE identities.project = $project AND identities.profile = m.f',
      { project, f: ids([...moves.keys()]), t: ids([...moves.values()]) },
      { f: LIST(VARCHAR), t: LIST(VARCHAR) },
    );
  }
  const gone = [...c.deleted, ...c.profiles.map((p) => p.profile)];
  if (gone.length > 0) await db.run('DELETE FROM profiles WHERE project = $project AND profile IN (SELECT unnest($ids))', { project, ids: ids(gone) }, IDS);
  await insertProfiles(db, project, c.profiles);
  if (c.links.length > 0) {
    await db.run(
      'INSERT INTO identities SELECT $project, unnest($ids), unnest($profiles)',
      { project, ids: ids(c.links.map((l) => l.id)), profiles: ids(c.links.map((l) => l.profile)) },
      { ids: LIST(VARCHAR), profiles: LIST(VARCHAR) },
    );
  }
  await insertWarnings(db, project, c.warnings);
}

/** The profiles' rows, in one statement. */
async function insertProfiles(db: DuckDBConnection, project: string, profiles: readonly ProfileRow[]): Promise<void> {
  if (profiles.length === 0) return;
  await db.run(
    `INSERT INTO profiles (project, profile, user_id, traits, trait_ts, id_count, id_bytes, warnings)
     SELECT $project, unnest($profile), unnest($userId), unnest($traits)::JSON, unnest($traitTs)::JSON, unnest($idCount), unnest($idBytes), unnest($warnings)::JSON`,
    {
      project,
      profile: ids(profiles.map((p) => p.profile)),
      userId: ids(profiles.map((p) => p.userId)),
      traits: ids(profiles.map((p) => JSON.stringify(p.traits))),
      traitTs: ids(profiles.map((p) => JSON.stringify(p.traitTs))),
      idCount: nums(profiles.map((p) => p.idCount)),
      idBytes: nums(profiles.map((p) => p.idBytes)),
      warnings: ids(profiles.map((p) => JSON.stringify(p.warnings))),
    },
    { profile: LIST(VARCHAR), userId: LIST(VARCHAR), traits: LIST(VARCHAR), traitTs: LIST(VARCHAR), idCount: LIST(DOUBLE), idBytes: LIST(DOUBLE), warnings: LIST(VARCHAR) },
  );
}

/** One row per warning (the event's messageId, what and why), in one statement. */
async function insertWarnings(db: DuckDBConnection, project: string, warnings: readonly StateWarning[]): Promise<void> {
  if (warnings.length === 0) return;
  await db.run(
    `INSERT INTO identity_warnings (project, message_id, kind, detail, created_at, subject)
     SELECT $project, unnest($m), unnest($k), unnest($d), now(), unnest($s)`,
    {
      project,
      m: ids(warnings.map((w) => w.messageId)),
      k: ids(warnings.map((w) => w.kind)),
      d: ids(warnings.map((w) => w.detail)),
      s: ids(warnings.map((w) => w.subject)),
    },
    { m: LIST(VARCHAR), k: LIST(VARCHAR), d: LIST(VARCHAR), s: LIST(VARCHAR) },
  );
}

async function loadGroups(db: DuckDBConnection, project: string, wanted: string[]): Promise<GroupState> {
  const state: GroupState = { groups: new Map() };
  if (wanted.length === 0) return state;
  const rows = await db.runAndReadAll(
    'SELECT group_id, traits::VARCHAR, trait_ts::VARCHAR, warnings::VARCHAR FROM groups WHERE project = $project AND group_id IN (SELECT unnest($ids))',
    { project, ids: ids(wanted) },
    IDS,
  );
  for (const [groupId, traits, traitTs, warnings] of rows.getRowsJS() as Array<[string, string, string, string]>) {
    state.groups.set(groupId, { groupId, traits: JSON.parse(traits), traitTs: JSON.parse(traitTs), warnings: JSON.parse(warnings) } satisfies GroupRow);
  }
  return state;
}

async function applyGroups(db: DuckDBConnection, project: string, c: GroupChanges): Promise<void> {
  if (c.groups.length > 0) {
    const groupIds = ids(c.groups.map((g) => g.groupId));
    await db.run('DELETE FROM groups WHERE project = $project AND group_id IN (SELECT unnest($ids))', { project, ids: groupIds }, IDS);
    await db.run(
      `INSERT INTO groups (project, group_id, traits, trait_ts, warnings)
       SELECT $project, unnest($ids), unnest($traits)::JSON, unnest($traitTs)::JSON, unnest($warnings)::JSON`,
      {
        project,
        ids: groupIds,
        traits: ids(c.groups.map((g) => JSON.stringify(g.traits))),
        traitTs: ids(c.groups.map((g) => JSON.stringify(g.traitTs))),
        warnings: ids(c.groups.map((g) => JSON.stringify(g.warnings))),
      },
      { ids: LIST(VARCHAR), traits: LIST(VARCHAR), traitTs: LIST(VARCHAR), warnings: LIST(VARCHAR) },
    );
  }
  if (c.members.length > 0) {
    // One row per (group, member), with the earliest time it was seen: the batch's pairs reduced to
    // their earliest first, then an earlier stored row kept, a later one replaced.
    const earliest = new Map<string, { groupId: string; member: string; since: number }>();
    for (const m of c.members) {
      const key = JSON.stringify([m.groupId, m.member]);
      const seen = earliest.get(key);
      if (!seen || m.since < seen.since) earliest.set(key, m);
    }
    const pairs = [...earliest.values()];
    const params = { project, g: ids(pairs.map((m) => m.groupId)), m: ids(pairs.map((m) => m.member)), s: nums(pairs.map((m) => m.since)) };
    const types = { g: LIST(VARCHAR), m: LIST(VARCHAR), s: LIST(DOUBLE) };
    const batch = 'SELECT unnest($g) AS g, unnest($m) AS m, unnest($s)::BIGINT AS s';
    await db.run(
      `DELETE FROM group_members x USING (${batch}) b WHERE x.project = $project AND x.group_id = b.g AND x.member = b.m AND x.since > b.s`,
      params,
      types,
    );
    await db.run(
      `INSERT INTO group_members SELECT $project, b.g, b.m, b.s FROM (${batch}) b
       WHERE NOT EXISTS (SELECT 1 FROM group_members x WHERE x.project = $project AND x.group_id = b.g AND x.member = b.m)`,
      params,
      types,
    );
  }
  await insertWarnings(db, project, c.warnings);
}

/**
 * Runs the stateful steps over a batch, project by project, and applies their changes. Returns the
 * lines to store, the dead letters of the lines a step could not handle, and the steps' warnings.
 * Anything thrown names the step it came from (stepOf), for the dead letter of a poisoned line.
 */
export async function applyStatefulSteps(
  db: DuckDBConnection,
  segment: number,
  lines: ProcessedLine[],
  steps: BatchSteps,
): Promise<{ keep: ProcessedLine[]; dead: DeadLetterInput[]; warnings: StateWarning[] }> {
  const byProject = statefulLinesByProject(lines);
  const failedLines = new Map<LogLine, { step: string; reason: string }>();
  const warnings: StateWarning[] = [];
  for (const [project, pls] of byProject) {
    const batch = pls.map((pl) => pl.line);
    await inStep('identity', async () => {
      const identity = steps.identity.resolve(batch, await loadIdentity(db, project, steps.identity.ids(batch)));
      await applyIdentity(db, project, identity.changes);
      warnings.push(...identity.changes.warnings);
      for (const f of identity.failed) failedLines.set(f.line, { step: 'identity', reason: f.reason });
    });
    await inStep('groups', async () => {
      const groups = steps.groups.resolve(batch, await loadGroups(db, project, steps.groups.ids(batch)));
      await applyGroups(db, project, groups.changes);
      warnings.push(...groups.changes.warnings);
      for (const f of groups.failed) if (!failedLines.has(f.line)) failedLines.set(f.line, { step: 'groups', reason: f.reason });
    });
  }
  return { ...setApartFailed(segment, lines, failedLines), warnings };
}
