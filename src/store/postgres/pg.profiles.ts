// Profile and group reads in PostgreSQL, with the same answers as DuckDB's (duckdb.profiles.ts). A
// profile's events: those whose user_id is one of its ids, or that have no user_id and whose
// anonymous_id is one (the partial indexes events_by_user / events_by_anonymous serve both arms).
import type pg from 'pg';
import type { Group, Profile, ProfileSearch, ProfileSummary, WarningSummaries } from '../../contracts/profiles.js';
import { dec, decJson, decNull, enc } from './pg.text.js';
import { ENRICHED_COLUMNS, storedEvent, type EnrichedRow } from './pg.enriched.js';

const PROFILE_EVENTS = `project = $1 AND (user_id = ANY($2::text[]) OR (user_id IS NULL AND anonymous_id = ANY($2::text[])))`;

export async function readProfile(db: pg.Pool, project: string, id: string, recent: number): Promise<Profile | null> {
  const p = enc(project);
  const link = await db.query<{ profile: string }>('SELECT profile FROM identities WHERE project = $1 AND id = $2', [p, enc(id)]);
  let ids = [enc(id)];
  let userId: string | null = null;
  let traits: Record<string, unknown> = {};
  let warnings: WarningSummaries = {};
  if (link.rows.length > 0) {
    const profile = link.rows[0].profile;
    const all = await db.query<{ id: string }>('SELECT id FROM identities WHERE project = $1 AND profile = $2 ORDER BY id', [p, profile]);
    ids = all.rows.map((r) => r.id);
    const row = await db.query<{ user_id: string | null; traits: string; warnings: string }>(
      'SELECT user_id, traits::text AS traits, warnings::text AS warnings FROM profiles WHERE project = $1 AND profile = $2',
      [p, profile],
    );
    if (row.rows.length > 0) {
      userId = decNull(row.rows[0].user_id);
      traits = decJson(row.rows[0].traits);
      warnings = decJson<WarningSummaries>(row.rows[0].warnings);
    }
  }
  const stats = await db.query<{ n: number; first: number | null; last: number | null }>(
    `SELECT count(*)::float8 AS n, min(ts)::float8 AS first, max(ts)::float8 AS last FROM events WHERE ${PROFILE_EVENTS}`,
    [p, ids],
  );
  const { n, first, last } = stats.rows[0];
  if (link.rows.length === 0 && n === 0) return null;
  const events = await db.query<EnrichedRow>(`SELECT ${ENRICHED_COLUMNS} FROM events WHERE ${PROFILE_EVENTS} ORDER BY ts DESC, id DESC LIMIT ${Math.floor(recent)}`, [p, ids]);
  return {
    userId,
    traits,
    ids: ids.map(dec),
    firstSeen: first,
    lastSeen: last,
    eventCount: n,
    recentEvents: events.rows.map(storedEvent),
    warnings,
  };
}

export async function searchProfiles(db: pg.Pool, project: string, s: ProfileSearch): Promise<{ profiles: ProfileSummary[]; next: string | null }> {
  const p = enc(project);
  const where = ['project = $1'];
  const params: unknown[] = [p];
  if (s.trait) {
    // The trait's value as text: strings as themselves, numbers and booleans as their JSON (as DuckDB's json_extract_string).
    params.push(enc(s.trait.key));
    if (s.trait.value === undefined) {
      where.push(`(traits -> $${params.length}) IS NOT NULL`); // a JSON null is a json 'null', not SQL NULL: it has the trait
    } else {
      params.push(enc(s.trait.value));
      where.push(`traits ->> $${params.length - 1} = $${params.length}`);
    }
  }
  if (s.after !== undefined) (params.push(enc(s.after)), where.push(`profile > $${params.length}`));
  const rows = await db.query<{ profile: string; user_id: string | null; traits: string }>(
    `SELECT profile, user_id, traits::text AS traits FROM profiles WHERE ${where.join(' AND ')} ORDER BY profile LIMIT ${Math.floor(s.limit) + 1}`,
    params,
  );
  const more = rows.rows.length > s.limit;
  const page = more ? rows.rows.slice(0, s.limit) : rows.rows;
  const ids = new Map<string, string[]>();
  if (page.length > 0) {
    const r = await db.query<{ profile: string; id: string }>('SELECT profile, id FROM identities WHERE project = $1 AND profile = ANY($2::text[]) ORDER BY id', [
      p,
      page.map((x) => x.profile),
    ]);
    for (const { profile, id } of r.rows) ids.set(profile, [...(ids.get(profile) ?? []), dec(id)]);
  }
  return {
    profiles: page.map((x) => ({ userId: decNull(x.user_id), traits: decJson<Record<string, unknown>>(x.traits), ids: ids.get(x.profile) ?? [] })),
    next: more ? dec(page.at(-1)!.profile) : null,
  };
}

export async function readGroup(db: pg.Pool, project: string, groupId: string, m: { limit: number; after?: string }): Promise<Group | null> {
  const params: unknown[] = [enc(project), enc(groupId)];
  const g = await db.query<{ traits: string; warnings: string }>('SELECT traits::text AS traits, warnings::text AS warnings FROM groups WHERE project = $1 AND group_id = $2', params);
  if (g.rows.length === 0) return null;
  const count = await db.query<{ n: number }>('SELECT count(*)::float8 AS n FROM group_members WHERE project = $1 AND group_id = $2', params);
  if (m.after !== undefined) params.push(enc(m.after));
  const rows = await db.query<{ member: string; since: number }>(
    `SELECT member, since::float8 AS since FROM group_members WHERE project = $1 AND group_id = $2 ${m.after !== undefined ? 'AND member > $3' : ''}
     ORDER BY member LIMIT ${Math.floor(m.limit) + 1}`,
    params,
  );
  const more = rows.rows.length > m.limit;
  const page = more ? rows.rows.slice(0, m.limit) : rows.rows;
  return {
    groupId,
    traits: decJson<Record<string, unknown>>(g.rows[0].traits),
    warnings: decJson<WarningSummaries>(g.rows[0].warnings),
    memberCount: count.rows[0].n,
    members: page.map((r) => ({ id: dec(r.member), since: r.since })),
    nextMember: more ? dec(page.at(-1)!.member) : null,
  };
}
