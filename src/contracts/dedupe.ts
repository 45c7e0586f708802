// The dedupe port used at acknowledgement time.
export type ClaimResult = 'inserted' | 'present' | 'full';

export interface Dedupe {
  /** Writes the 128-bit key of (project, messageId) into out[off..off+3]. */
  key(project: string, messageId: string, out: Uint32Array, off: number): void;
  /** 'inserted' when new, 'present' when already received inside the window, 'full' at capacity. */
  claim(keys: Uint32Array, off: number, day: number): ClaimResult;
  /** Gives back the first `count` keys of `keys` after the write that carried them failed. */
  release(keys: Uint32Array, count: number): void;
}
