// docs/errors.md must list exactly the codes of src/errors.ts, each with its HTTP status.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERRORS } from '../src/errors.js';

const DOC = path.resolve(import.meta.dirname, '../docs/errors.md');

/** Rows of the catalog table: `| \`CODE\` | status | cause | what to do |`. */
function parseCatalog(markdown: string): Array<{ code: string; status: number; cells: string[] }> {
  const rows: Array<{ code: string; status: number; cells: string[] }> = [];
  for (const line of markdown.split('\n')) {
    if (!line.trim().startsWith('|')) continue;
    const cells = line.trim().replace(/^\||\|$/g, '').split('|').map((c) => c.trim());
    const m = /^`(SOL_ERR_[A-Z0-9_]+)`$/.exec(cells[0] ?? '');
    if (!m) continue;
    expect(cells[1], `status cell of ${m[1]}`).toMatch(/^\d{3}$/);
    rows.push({ code: m[1], status: Number(cells[1]), cells });
  }
  return rows;
}

describe('docs/errors.md', () => {
  const rows = parseCatalog(fs.readFileSync(DOC, 'utf8'));

  it('has one row per code of ERRORS, with the same HTTP status', () => {
    const documented = Object.fromEntries(rows.map((r) => [r.code, r.status]));
    const actual = Object.fromEntries(Object.entries(ERRORS).map(([code, e]) => [code, e.status]));
    expect(documented).toEqual(actual);
  });

  it('lists each code once', () => {
    const codes = rows.map((r) => r.code);
    expect(codes.length).toBe(new Set(codes).size);
  });

  it('gives every code a cause and what the client should do', () => {
    for (const r of rows) {
      expect(r.cells, r.code).toHaveLength(4);
      expect(r.cells[2].length, `cause of ${r.code}`).toBeGreaterThan(10);
      expect(r.cells[3].length, `advice for ${r.code}`).toBeGreaterThan(10);
    }
  });

  it('the parser sees a drift (self-check)', () => {
    const drifted = parseCatalog('| `SOL_ERR_INTERNAL` | 503 | x | y |\n| `SOL_ERR_NEW` | 400 | x | y |');
    expect(Object.fromEntries(drifted.map((r) => [r.code, r.status]))).not.toEqual({ SOL_ERR_INTERNAL: 500 });
    expect(drifted.map((r) => r.code)).toEqual(['SOL_ERR_INTERNAL', 'SOL_ERR_NEW']);
  });
});
