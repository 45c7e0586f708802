// The dedupe port used at acknowledgement time.
/** `project-full`: this project holds its bound of keys (SOLUTE_DEDUPE_MAX_KEYS_PER_PROJECT); others are unaffected. */
export type ClaimResult = 'inserted' | 'present' | 'full' | 'project-full';

export interface Dedupe {
  /** Writes the 128-bit key of (project, messageId) into out[off..off+3]. */
  key(project: string, messageId: string, out: Uint32Array, off: number): void;
  /** 'inserted' when new, 'present' when already received inside the window, 'full' / 'project-full' at capacity. */
  claim(keys: Uint32Array, off: number, day: number, project: string): ClaimResult;
  /** Gives back the first `count` keys of `keys` (claimed for `project` on `days`) after the write that carried them failed. */
  release(keys: Uint32Array, days: Uint16Array, count: number, project: string): void;
}
