// Which step a thrown error came from, across the store boundary: the stores mark what the stateful
// steps' work throws inside a batch's transaction, and the batch loader names that step in the dead
// letter of a line it found to be poisoned (process/batch-loader.ts).

const STEP = Symbol.for('solute.step');

/**
 * Runs a stateful step's work; an error thrown from it is marked with the step's name (the error
 * itself is rethrown, so its code, e.g. a PostgreSQL SQLSTATE, still decides retries).
 */
export async function inStep<T>(step: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (typeof err === 'object' && err !== null && !(STEP in err)) Object.defineProperty(err, STEP, { value: step, enumerable: false });
    throw err;
  }
}

/** The step an error of a batch's commit came from: a stateful step's name, else `store`. */
export function stepOf(err: unknown): string {
  const step = typeof err === 'object' && err !== null ? (err as Record<symbol, unknown>)[STEP] : undefined;
  return typeof step === 'string' ? step : 'store';
}
