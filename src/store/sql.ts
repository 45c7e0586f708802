// Values the stores write into SQL text instead of binding them: numbers Solute computed (bucket
// bounds, offsets, limits; inlined so the planner sees constants) and string literals of its own
// (project names from the CLI, event names of the seed). Shared by the DuckDB and PostgreSQL stores.

/** A whole number as SQL; anything else is a bug upstream. */
export function sqlInt(n: number): string {
  if (!Number.isSafeInteger(n)) throw new Error(`not a safe integer: ${n}`);
  return String(n);
}

/** A string literal, quotes doubled (standard SQL: both engines read it so). */
export function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}
