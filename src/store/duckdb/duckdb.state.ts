// Profiles and groups in DuckDB: load the state a batch's stateful steps need, and apply what they
// decided. Runs on the writer connection inside the batch's transaction.
import { setApartFailed, statefulLinesByProject } from '../stateful-lines.js';
import { inStep } from '../../lib/step-error.js';
import { LIST, VARCHAR, listValue, type DuckDBConnection } from '@duckdb/node-api';
import type { LogLine } from '../../contracts/log-line.js';
import type { BatchSteps, DeadLetterInput, ProcessedLine } from '../../contracts/event-store.js';
import type { GroupChanges, GroupRow, GroupState, IdentityChanges, IdentityState, ProfileRow, StateWarning } from '../../contracts/profiles.js';

const IDS = { ids: LIST(VARCHAR) };
const ids = (values: readonly string[]) => listValue([...values]);

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

async function applyIdentity(db: DuckDBConnection, project: string, c: IdentityChanges): Promise<void> {
  for (const r of c.repoints) {
    await db.run('UPDATE identities SET profile = $to WHERE project = $project AND profile = $from', { project, from: r.from, to: r.to });
  }
  const gone = [...c.deleted, ...c.profiles.map((p) => p.profile)];
  if (gone.length > 0) await db.run('DELETE FROM profiles WHERE project = $project AND profile IN (SELECT unnest($ids))', { project, ids: ids(gone) }, IDS);
  for (const p of c.profiles) await insertProfile(db, project, p);
  if (c.links.length > 0) {
    await db.run(
      'INSERT INTO identities SELECT $project, unnest($ids), unnest($profiles)',
      { project, ids: ids(c.links.map((l) => l.id)), profiles: ids(c.links.map((l) => l.profile)) },
      { ids: LIST(VARCHAR), profiles: LIST(VARCHAR) },
    );
  }
  await insertWarnings(db, project, c.warnings);
}

function insertProfile(db: DuckDBConnection, project: string, p: ProfileRow) {
  return db.run(
    'INSERT INTO profiles (project, profile, user_id, traits, trait_ts, id_count, id_bytes, warnings) VALUES ($1, $2, $3, $4::JSON, $5::JSON, $6, $7, $8::JSON)',
    [project, p.profile, p.userId, JSON.stringify(p.traits), JSON.stringify(p.traitTs), p.idCount, p.idBytes, JSON.stringify(p.warnings)],
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
    await db.run('DELETE FROM groups WHERE project = $project AND group_id IN (SELECT unnest($ids))', { project, ids: ids(c.groups.map((g) => g.groupId)) }, IDS);
    for (const g of c.groups) {
      await db.run('INSERT INTO groups (project, group_id, traits, trait_ts, warnings) VALUES ($1, $2, $3::JSON, $4::JSON, $5::JSON)', [
        project,
        g.groupId,
        JSON.stringify(g.traits),
        JSON.stringify(g.traitTs),
        JSON.stringify(g.warnings),
      ]);
    }
  }
  for (const m of c.members) {
    // One row per (group, member), with the earliest time it was seen.
    await db.run('DELETE FROM group_members WHERE project = $1 AND group_id = $2 AND member = $3 AND since > $4', [project, m.groupId, m.member, m.since]);
    await db.run(
      'INSERT INTO group_members SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM group_members WHERE project = $1 AND group_id = $2 AND member = $3)',
      [project, m.groupId, m.member, m.since],
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
