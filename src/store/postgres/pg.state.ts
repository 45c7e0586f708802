// Profiles and groups in PostgreSQL: load the state a batch's stateful steps need, and apply what
// they decided, on the batch's transaction. Several processors may commit at once: each project's
// identity and group work runs under a transaction-scoped advisory lock on that project, taken in
// a fixed order, so merges of one project serialize and state read under the lock is current.
import { setApartFailed, statefulLinesByProject } from '../stateful-lines.js';
import type pg from 'pg';
import type { LogLine } from '../../contracts/log-line.js';
import type { BatchSteps, DeadLetterInput, ProcessedLine } from '../../contracts/event-store.js';
import type { GroupChanges, GroupRow, GroupState, IdentityChanges, IdentityState, StateWarning, WarningSummaries } from '../../contracts/profiles.js';
import { inStep } from '../../lib/step-error.js';
import { dec, decJson, decNull, enc, encJson, encNull } from './pg.text.js';

/** First key of the two-key advisory locks this store takes per project (the one-key space is the migration lock's). */
export const PROJECT_LOCK_SPACE = 0x536f6c75; // "Solu"

async function loadIdentity(db: pg.ClientBase, project: string, wanted: string[]): Promise<IdentityState> {
  const state: IdentityState = { links: new Map(), profiles: new Map() };
  if (wanted.length === 0) return state;
  const links = await db.query<{ id: string; profile: string }>('SELECT id, profile FROM identities WHERE project = $1 AND id = ANY($2::text[])', [
    enc(project),
    wanted.map(enc),
  ]);
  for (const r of links.rows) state.links.set(dec(r.id), dec(r.profile));
  const keys = [...new Set(state.links.values())];
  if (keys.length === 0) return state;
  const rows = await db.query<{ profile: string; user_id: string | null; traits: string; trait_ts: string; id_count: number; id_bytes: number; warnings: string }>(
    `SELECT profile, user_id, traits::text AS traits, trait_ts::text AS trait_ts, id_count::float8 AS id_count, id_bytes::float8 AS id_bytes,
       warnings::text AS warnings
     FROM profiles WHERE project = $1 AND profile = ANY($2::text[])`,
    [enc(project), keys.map(enc)],
  );
  for (const r of rows.rows) {
    const profile = dec(r.profile);
    state.profiles.set(profile, {
      profile,
      userId: decNull(r.user_id),
      traits: decJson(r.traits),
      traitTs: decJson(r.trait_ts),
      idCount: r.id_count,
      idBytes: r.id_bytes,
      warnings: decJson<WarningSummaries>(r.warnings),
    });
  }
  return state;
}

async function applyIdentity(db: pg.ClientBase, project: string, c: IdentityChanges): Promise<void> {
  const p = enc(project);
  for (const r of c.repoints) {
    await db.query('UPDATE identities SET profile = $3 WHERE project = $1 AND profile = $2', [p, enc(r.from), enc(r.to)]);
  }
  if (c.deleted.length > 0) await db.query('DELETE FROM profiles WHERE project = $1 AND profile = ANY($2::text[])', [p, c.deleted.map(enc)]);
  if (c.profiles.length > 0) {
    await db.query(
      `INSERT INTO profiles (project, profile, user_id, traits, trait_ts, id_count, id_bytes, warnings)
       SELECT $1, * FROM unnest($2::text[], $3::text[], $4::json[], $5::json[], $6::bigint[], $7::bigint[], $8::json[])
       ON CONFLICT (project, profile) DO UPDATE SET user_id = EXCLUDED.user_id, traits = EXCLUDED.traits, trait_ts = EXCLUDED.trait_ts,
         id_count = EXCLUDED.id_count, id_bytes = EXCLUDED.id_bytes, warnings = EXCLUDED.warnings`,
      [
        p,
        c.profiles.map((r) => enc(r.profile)),
        c.profiles.map((r) => encNull(r.userId)),
        c.profiles.map((r) => encJson(r.traits)),
        c.profiles.map((r) => encJson(r.traitTs)),
        c.profiles.map((r) => r.idCount),
        c.profiles.map((r) => r.idBytes),
        c.profiles.map((r) => encJson(r.warnings)),
      ],
    );
  }
  if (c.links.length > 0) {
    await db.query('INSERT INTO identities (project, id, profile) SELECT $1, * FROM unnest($2::text[], $3::text[])', [
      p,
      c.links.map((l) => enc(l.id)),
      c.links.map((l) => enc(l.profile)),
    ]);
  }
  await insertWarnings(db, p, c.warnings);
}

/** One row per warning (the event's messageId, what and why), in one statement. */
async function insertWarnings(db: pg.ClientBase, p: string, warnings: readonly StateWarning[]): Promise<void> {
  if (warnings.length === 0) return;
  await db.query('INSERT INTO identity_warnings (project, message_id, kind, detail, subject) SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[])', [
    p,
    warnings.map((w) => enc(w.messageId)),
    warnings.map((w) => w.kind),
    warnings.map((w) => enc(w.detail)),
    warnings.map((w) => w.subject),
  ]);
}

async function loadGroups(db: pg.ClientBase, project: string, wanted: string[]): Promise<GroupState> {
  const state: GroupState = { groups: new Map() };
  if (wanted.length === 0) return state;
  const rows = await db.query<{ group_id: string; traits: string; trait_ts: string; warnings: string }>(
    'SELECT group_id, traits::text AS traits, trait_ts::text AS trait_ts, warnings::text AS warnings FROM groups WHERE project = $1 AND group_id = ANY($2::text[])',
    [enc(project), wanted.map(enc)],
  );
  for (const r of rows.rows) {
    const groupId = dec(r.group_id);
    state.groups.set(groupId, { groupId, traits: decJson(r.traits), traitTs: decJson(r.trait_ts), warnings: decJson<WarningSummaries>(r.warnings) } satisfies GroupRow);
  }
  return state;
}

async function applyGroups(db: pg.ClientBase, project: string, c: GroupChanges): Promise<void> {
  const p = enc(project);
  if (c.groups.length > 0) {
    await db.query(
      `INSERT INTO groups (project, group_id, traits, trait_ts, warnings) SELECT $1, * FROM unnest($2::text[], $3::json[], $4::json[], $5::json[])
       ON CONFLICT (project, group_id) DO UPDATE SET traits = EXCLUDED.traits, trait_ts = EXCLUDED.trait_ts, warnings = EXCLUDED.warnings`,
      [p, c.groups.map((g) => enc(g.groupId)), c.groups.map((g) => encJson(g.traits)), c.groups.map((g) => encJson(g.traitTs)), c.groups.map((g) => encJson(g.warnings))],
    );
  }
  if (c.members.length > 0) {
    // One row per (group, member), with the earliest time it was seen.
    await db.query(
      `INSERT INTO group_members (project, group_id, member, since) SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bigint[])
       ON CONFLICT (project, group_id, member) DO UPDATE SET since = least(group_members.since, EXCLUDED.since)`,
      [p, c.members.map((m) => enc(m.groupId)), c.members.map((m) => enc(m.member)), c.members.map((m) => m.since)],
    );
  }
  await insertWarnings(db, p, c.warnings);
}

/**
 * Runs the stateful steps over a batch, project by project, each under its project's lock, and
 * applies their changes. Returns the lines to store, the dead letters of the lines a step could not
 * handle, and the steps' warnings. Anything thrown names the step it came from (lib/step-error.ts).
 */
export async function applyStatefulSteps(
  db: pg.ClientBase,
  segment: number,
  lines: ProcessedLine[],
  steps: BatchSteps,
): Promise<{ keep: ProcessedLine[]; dead: DeadLetterInput[]; warnings: StateWarning[] }> {
  const byProject = statefulLinesByProject(lines);
  // Locks in one order everywhere: two processors never wait on each other crosswise.
  const projects = [...byProject.keys()].sort();
  for (const project of projects) await db.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [PROJECT_LOCK_SPACE, enc(project)]);
  const failedLines = new Map<LogLine, { step: string; reason: string }>();
  const warnings: StateWarning[] = [];
  /** Both steps over some lines of one project; the step running when the database refuses a value is `at.step`. */
  const run = async (project: string, batch: LogLine[], at: { step: string }) => {
    at.step = 'identity';
    const identity = await inStep('identity', async () => {
      const r = steps.identity.resolve(batch, await loadIdentity(db, project, steps.identity.ids(batch)));
      await applyIdentity(db, project, r.changes);
      return r;
    });
    at.step = 'groups';
    const groups = await inStep('groups', async () => {
      const r = steps.groups.resolve(batch, await loadGroups(db, project, steps.groups.ids(batch)));
      await applyGroups(db, project, r.changes);
      return r;
    });
    return {
      failed: [...identity.failed.map((f) => ({ ...f, step: 'identity' })), ...groups.failed.map((f) => ({ ...f, step: 'groups' }))],
      warnings: [...identity.changes.warnings, ...groups.changes.warnings],
    };
  };
  for (const project of projects) {
    const batch = byProject.get(project)!.map((pl) => pl.line);
    const all = await underSavepoint(db, () => run(project, batch, { step: '' }));
    let failed: Array<{ line: LogLine; reason: string; step: string }>;
    if (all instanceof Error) {
      // A value the database refuses (an id too large for an index, say): line by line, so only that line is dead.
      failed = [];
      for (const line of batch) {
        const at = { step: '' };
        const one = await underSavepoint(db, () => run(project, [line], at));
        if (one instanceof Error) failed.push({ line, reason: one.message, step: at.step });
        else (failed.push(...one.failed), warnings.push(...one.warnings));
      }
    } else {
      failed = all.failed;
      warnings.push(...all.warnings);
    }
    for (const f of failed) if (!failedLines.has(f.line)) failedLines.set(f.line, { step: f.step, reason: f.reason });
  }
  return { ...setApartFailed(segment, lines, failedLines), warnings };
}

/** SQLSTATE classes of errors about the data itself (22 data exception, 23 integrity, 54 program limit). */
function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && ['22', '23', '54'].includes(code.slice(0, 2));
}

/**
 * Runs fn under a savepoint: its result, or, when the database refused the data, the error (the
 * work undone, the transaction usable). Any other error (connection, deadlock) is thrown.
 */
export async function underSavepoint<T>(db: pg.ClientBase, fn: () => Promise<T>): Promise<T | Error> {
  await db.query('SAVEPOINT attempt');
  try {
    const result = await fn();
    await db.query('RELEASE SAVEPOINT attempt');
    return result;
  } catch (err) {
    if (!isDataError(err)) throw err;
    await db.query('ROLLBACK TO SAVEPOINT attempt');
    await db.query('RELEASE SAVEPOINT attempt');
    return err as Error;
  }
}
