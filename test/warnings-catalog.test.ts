// docs/errors.md's "Warnings" table must list exactly the codes of src/warnings.ts, with their kind and bound label.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { WARNINGS } from '../src/warnings.js';

const DOC = path.resolve(import.meta.dirname, '../docs/errors.md');

/** Rows `| \`SOL_WARN_...\` | \`kind\` | \`bound\` or (not counted) | cause | what to do |`. */
function parseWarnings(markdown: string) {
  const rows: Array<{ code: string; kind: string; bound: string | null; cells: string[] }> = [];
  for (const line of markdown.split('\n')) {
    const cells = line.trim().replace(/^\||\|$/g, '').split('|').map((c) => c.trim());
    const m = /^`(SOL_WARN_[A-Z0-9_]+)`$/.exec(cells[0] ?? '');
    if (!m) continue;
    rows.push({ code: m[1], kind: cells[1].replace(/`/g, ''), bound: cells[2].startsWith('`') ? cells[2].replace(/`/g, '') : null, cells });
  }
  return rows;
}

describe('docs/errors.md warnings', () => {
  const rows = parseWarnings(fs.readFileSync(DOC, 'utf8'));

  it('has one row per code of WARNINGS, with its kind and bound label', () => {
    expect(Object.fromEntries(rows.map((r) => [r.code, { kind: r.kind, bound: r.bound }]))).toEqual(
      Object.fromEntries(Object.entries(WARNINGS).map(([code, e]) => [code, { kind: e.kind, bound: e.bound }])),
    );
    expect(rows.length).toBe(Object.keys(WARNINGS).length);
  });

  it('gives every code a cause and what to do', () => {
    for (const r of rows) {
      expect(r.cells, r.code).toHaveLength(5);
      expect(r.cells[3].length, r.code).toBeGreaterThan(10);
      expect(r.cells[4].length, r.code).toBeGreaterThan(10);
    }
  });

  it('the parser sees a drift (self-check)', () => {
    expect(parseWarnings('| `SOL_WARN_X` | `x` | (not counted) | cause cause | do do do do |')).toEqual([
      { code: 'SOL_WARN_X', kind: 'x', bound: null, cells: ['`SOL_WARN_X`', '`x`', '(not counted)', 'cause cause', 'do do do do'] },
    ]);
  });
});
