// Profile and group reads on DuckDB's reader connection. A profile's events are those whose user (userId,
// else anonymousId) is one of its ids: the summaries hold their count, first and last time, and where
// the latest are (duckdb.user-events.ts), matched on the ids themselves (a hash only narrows the search).
import { ENRICHMENT_COLUMNS, ENRICHMENT_JOIN, storedEvent, type EnrichedRow } from './duckdb.enriched.js';
import { LIST, VARCHAR, listValue, type DuckDBConnection } from '@duckdb/node-api';
import { latestSeqs, rowsBySeqs, userTotals } from './duckdb.user-events.js';
import type { Group, Profile, ProfileSearch, ProfileSummary, WarningSummaries } from '../../contracts/profiles.js';

const IDS = { ids: LIST(VARCHAR) };

export async function readProfile(db: DuckDBConnection, project: string, id: string, recent: number): Promise<Profile | null> {
  const link = await db.runAndReadAll('SELECT profile FROM identities WHERE project = $project AND id = $id LIMIT 1', { project, id });
  let ids = [id];
  let userId: string | null = null;
  let traits: Record<string, unknown> = {};
  let warnings: WarningSummaries = {};
  if (link.currentRowCount > 0) {
    const profile = String(link.getRowsJS()[0][0]);
    const all = await db.runAndReadAll('SELECT id FROM identities WHERE project = $project AND profile = $profile ORDER BY id', { project, profile });
    ids = all.getRowsJS().map((r) => String(r[0]));
    const row = await db.runAndReadAll('SELECT user_id, traits::VARCHAR, warnings::VARCHAR FROM profiles WHERE project = $project AND profile = $profile', { project, profile });
    if (row.currentRowCount > 0) {
      const [u, t, w] = row.getRowsJS()[0] as [string | null, string, string];
      userId = u;
      traits = JSON.parse(t) as Record<string, unknown>;
      warnings = JSON.parse(w) as WarningSummaries;
    }
  }
  // Count, first and last from the summaries; the recent events by their seqs there (duckdb.user-events.ts).
  const { count, first, last } = await userTotals(db, project, ids);
  let recentRows: Array<EnrichedRow & { t: number; s: number }> = [];
  if (recent > 0 && count > 0) {
    const { seqs } = await latestSeqs(db, project, ids, recent);
    const r = await db.runAndReadAll(
      `SELECT e.t, e.s, ${ENRICHMENT_COLUMNS} FROM (${rowsBySeqs(seqs, 'ts::DOUBLE AS t, seq::DOUBLE AS s, body, ip, ua', 'project = $project')}) e
       ${ENRICHMENT_JOIN} ORDER BY e.t DESC, e.s DESC`,
      { project },
    );
    recentRows = r.getRowObjectsJS() as unknown as Array<EnrichedRow & { t: number; s: number }>;
  }
  if (link.currentRowCount === 0 && count === 0) return null;
  return {
    userId,
    traits,
    ids,
    firstSeen: first,
    lastSeen: last,
    eventCount: count,
    recentEvents: recentRows.slice(0, Math.floor(recent)).map(storedEvent),
    warnings,
  };
}

/**
 * One trait key as a JSON pointer (`/key`, `~` and `/` escaped as RFC 6901 says). Not the `$."key"`
 * form: DuckDB reads a `*` there as a wildcard, even quoted, and its answer (a list) then fails the query.
 */
function traitPath(key: string): string {
  return `/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
}

export async function searchProfiles(db: DuckDBConnection, project: string, s: ProfileSearch): Promise<{ profiles: ProfileSummary[]; next: string | null }> {
  const where = ['project = $project'];
  const params: Record<string, string> = { project };
  if (s.trait) {
    // The trait's value as text: strings as themselves, numbers and booleans as their JSON.
    params.path = traitPath(s.trait.key);
    if (s.trait.value === undefined) {
      where.push('json_exists(traits, $path)');
    } else {
      where.push('json_extract_string(traits, $path) = $value');
      params.value = s.trait.value;
    }
  }
  if (s.after !== undefined) (where.push('profile > $after'), (params.after = s.after));
  const rows = await db.runAndReadAll(
    `SELECT profile, user_id, traits::VARCHAR FROM profiles WHERE ${where.join(' AND ')} ORDER BY profile LIMIT ${Math.floor(s.limit) + 1}`,
    params,
  );
  const found = rows.getRowsJS() as Array<[string, string | null, string]>;
  const more = found.length > s.limit;
  const page = more ? found.slice(0, s.limit) : found;
  const ids = new Map<string, string[]>();
  if (page.length > 0) {
    const r = await db.runAndReadAll(
      'SELECT profile, id FROM identities WHERE project = $project AND profile IN (SELECT unnest($ids)) ORDER BY id',
      { project, ids: listValue(page.map((p) => p[0])) },
      IDS,
    );
    for (const [profile, id] of r.getRowsJS() as Array<[string, string]>) ids.set(profile, [...(ids.get(profile) ?? []), id]);
  }
  return {
    profiles: page.map(([profile, userId, traits]) => ({ userId, traits: JSON.parse(traits) as Record<string, unknown>, ids: ids.get(profile) ?? [] })),
    next: more ? page.at(-1)![0] : null,
  };
}

export async function readGroup(db: DuckDBConnection, project: string, groupId: string, m: { limit: number; after?: string }): Promise<Group | null> {
  const g = await db.runAndReadAll('SELECT traits::VARCHAR, warnings::VARCHAR FROM groups WHERE project = $project AND group_id = $groupId', { project, groupId });
  if (g.currentRowCount === 0) return null;
  const count = await db.runAndReadAll('SELECT count(*)::DOUBLE FROM group_members WHERE project = $project AND group_id = $groupId', { project, groupId });
  const params: Record<string, string> = { project, groupId };
  if (m.after !== undefined) params.after = m.after;
  const rows = await db.runAndReadAll(
    `SELECT member, since::DOUBLE FROM group_members WHERE project = $project AND group_id = $groupId ${m.after !== undefined ? 'AND member > $after' : ''}
     ORDER BY member LIMIT ${Math.floor(m.limit) + 1}`,
    params,
  );
  const found = rows.getRowsJS() as Array<[string, number]>;
  const more = found.length > m.limit;
  const page = more ? found.slice(0, m.limit) : found;
  return {
    groupId,
    traits: JSON.parse(String(g.getRowsJS()[0][0])) as Record<string, unknown>,
    memberCount: Number(count.getRowsJS()[0][0]),
    members: page.map(([id, since]) => ({ id, since })),
    nextMember: more ? page.at(-1)![0] : null,
    warnings: JSON.parse(String(g.getRowsJS()[0][1])) as WarningSummaries,
  };
}
