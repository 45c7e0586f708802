// Profiles and groups: the state the identity and group steps read and change, and what the query
// API reads back. Adapters store it; the pure steps in process/steps decide every change.

/** Traits with, per trait, the corrected timestamp (epoch ms) of the event that set it. */
export interface TraitSet {
  traits: Record<string, unknown>;
  traitTs: Record<string, number>;
}

/**
 * The bounds on state (docs/api.md, "Bounds"). They apply after the acknowledgement, in the pure steps:
 * what would pass one is not applied, and a warning records it.
 */
export interface StateBounds {
  /** Traits per profile or group. */
  maxTraits: number;
  /** UTF-8 bytes of a profile's or group's traits as JSON (`JSON.stringify(traits)`). */
  maxTraitsBytes: number;
  /** Ids (userIds and anonymousIds) linked to one profile. */
  maxLinkedIds: number;
  /** UTF-8 bytes of the ids linked to one profile, summed. */
  maxLinkedIdsBytes: number;
}

/**
 * Why a profile or group did not take all of an event: a merge refused (two identified users), or a
 * bound. Each has a code (src/warnings.ts, docs/errors.md).
 */
export type StateWarningKind = 'merge_refused' | 'traits_too_many' | 'traits_too_large' | 'linked_ids_too_many' | 'linked_ids_too_large';

/** What a profile or group keeps of its warnings: one entry per kind, so it stays a few hundred bytes. */
export interface WarningSummary {
  count: number;
  /** The last event (in processing order) that got this warning, and its corrected timestamp. */
  lastMessageId: string;
  lastAt: number;
  detail: string;
}
export type WarningSummaries = Partial<Record<StateWarningKind, WarningSummary>>;

/** One person: every id linked to it points at `profile` in the identity table. */
export interface ProfileRow extends TraitSet {
  /** The profile's key; never shown to clients. */
  profile: string;
  /** The identified userId (the first one an `identify` claimed for it), or null while anonymous. */
  userId: string | null;
  /** How many ids are linked to it, and their UTF-8 bytes summed (kept with the row, for the bounds). */
  idCount: number;
  idBytes: number;
  warnings: WarningSummaries;
}

/** What the identity step needs to see: the links and profiles of the ids its events name. */
export interface IdentityState {
  /** id (userId or anonymousId) → profile key, for every id asked for that is known. */
  links: Map<string, string>;
  profiles: Map<string, ProfileRow>;
}

/** One event's warning, as the steps report it; the store keeps it (identity_warnings) and counts it. */
export interface StateWarning {
  messageId: string;
  kind: StateWarningKind;
  /** What the warning is about: a profile or a group. */
  subject: 'profile' | 'group';
  detail: string;
}
export type IdentityWarning = StateWarning;

/** What the identity step decided for one batch of one project, applied in the store's transaction. */
export interface IdentityChanges {
  /** Profiles to write whole (replacing the stored row). */
  profiles: ProfileRow[];
  /** Profiles merged into another and gone. */
  deleted: string[];
  /** In order: every id that pointed at `from` now points at `to`. */
  repoints: Array<{ from: string; to: string }>;
  /** Ids seen for the first time, with their profile (after the repoints). */
  links: Array<{ id: string; profile: string }>;
  warnings: IdentityWarning[];
}

export interface GroupRow extends TraitSet {
  groupId: string;
  warnings: WarningSummaries;
}

export interface GroupState {
  groups: Map<string, GroupRow>;
}

export interface GroupChanges {
  groups: GroupRow[];
  /** Memberships seen in the batch; the store keeps the earliest `since` of each pair. */
  members: Array<{ groupId: string; member: string; since: number }>;
  warnings: StateWarning[];
}

/**
 * The read side: a profile as the API returns it. Its events are those whose userId is one of `ids`,
 * and those without a userId whose anonymousId is (whenever the link was made).
 */
export interface Profile {
  userId: string | null;
  traits: Record<string, unknown>;
  /** Every linked userId and anonymousId, sorted. */
  ids: string[];
  /** Corrected timestamps (epoch ms) of the first and last event; null without events. */
  firstSeen: number | null;
  lastSeen: number | null;
  eventCount: number;
  recentEvents: Array<Record<string, unknown>>;
  /** What this profile did not take (a refused merge, a bound), one entry per kind. */
  warnings: WarningSummaries;
}

export interface ProfileSummary {
  userId: string | null;
  traits: Record<string, unknown>;
  ids: string[];
}

export interface ProfileSearch {
  /** Profiles that have the trait; with `value`, whose trait rendered as text equals it. */
  trait?: { key: string; value?: string };
  limit: number;
  /** The last profile key of the previous page. */
  after?: string;
}

export interface Group {
  groupId: string;
  traits: Record<string, unknown>;
  memberCount: number;
  /** A page of members (userId, else anonymousId), in id order; `since`: the first group call's corrected timestamp. */
  members: Array<{ id: string; since: number }>;
  nextMember: string | null;
  warnings: WarningSummaries;
}

export interface ProfileReader {
  /** The profile of a userId or any linked anonymousId; null when the id is unknown. */
  profile(project: string, id: string, recent: number): Promise<Profile | null>;
  profiles(project: string, search: ProfileSearch): Promise<{ profiles: ProfileSummary[]; next: string | null }>;
  group(project: string, groupId: string, members: { limit: number; after?: string }): Promise<Group | null>;
}
