// The store port: where events become queryable.
import type { ClosedSegment } from './event-log.js';

export interface EventFilter {
  type?: string;
  event?: string;
  userId?: string;
  anonymousId?: string;
  messageId?: string;
  /** Inclusive lower bound on the corrected timestamp, epoch ms. */
  from?: number;
  /** Exclusive upper bound on the corrected timestamp, epoch ms. */
  to?: number;
  limit: number;
  cursor?: { t: number; s: number };
}

export interface EventPage {
  events: Array<Record<string, unknown>>;
  /** Position of the last event returned when more may follow. */
  next: { t: number; s: number } | null;
}

export interface LoadResult {
  stored: number;
  deadLettered: number;
}

export interface EventStore {
  /** The highest segment id committed, 0 when none. */
  lastSegmentId(): Promise<number>;
  /** The highest sequence number stored, 0 when none. */
  maxSeq(): Promise<number>;
  /** Stores every line of a segment, once: a segment already committed is a no-op. */
  loadSegment(segment: Pick<ClosedSegment, 'id' | 'file'>): Promise<LoadResult>;
  queryEvents(project: string, filter: EventFilter): Promise<EventPage>;
  countEvents(): Promise<number>;
  close(): Promise<void>;
}
