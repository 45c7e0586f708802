// What is published: the browser build's size budget, the package's entry points, and the version the
// events report.
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { createRequire } from 'node:module';

const DIR = path.resolve(import.meta.dirname, '..');
const pkg = JSON.parse(fs.readFileSync(path.join(DIR, 'package.json'), 'utf8'));

describe('@solute-ai/sdk package', () => {
  it('the browser build is at most 6 KB minified and gzipped (6000 bytes, gzip -9)', () => {
    const js = fs.readFileSync(path.join(DIR, 'dist/solute.iife.js'));
    const gz = zlib.gzipSync(js, { level: 9 }).length;
    console.info(`dist/solute.iife.js: ${js.length} bytes minified, ${gz} gzipped`);
    expect(gz).toBeLessThanOrEqual(6000);
  });

  it('the browser build sets window.Solute.createSolute and nothing else global', () => {
    const js = fs.readFileSync(path.join(DIR, 'dist/solute.iife.js'), 'utf8');
    const sandbox: Record<string, unknown> = {};
    new Function('window', 'self', 'globalThis', `${js};\nwindow.Solute = Solute;`)(sandbox, sandbox, sandbox);
    expect(Object.keys(sandbox)).toEqual(['Solute']);
    expect(typeof (sandbox.Solute as any).createSolute).toBe('function');
  });

  it('ESM and CJS entry points export createSolute; the types are one self-contained file for each', async () => {
    const esm = await import(path.join(DIR, pkg.exports['.'].import.default));
    const cjs = createRequire(import.meta.url)(path.join(DIR, pkg.exports['.'].require.default));
    for (const m of [esm, cjs]) {
      expect(typeof m.createSolute).toBe('function');
      expect(m.VERSION).toBe(pkg.version);
      expect(() => m.createSolute({})).toThrow(/writeKey is required/);
      expect(() => m.createSolute({ writeKey: 'wk_x' })).toThrow(/host is required outside a browser/);
    }
    for (const t of [pkg.exports['.'].import.types, pkg.exports['.'].require.types, pkg.types]) {
      const dts = fs.readFileSync(path.join(DIR, t), 'utf8');
      expect(dts).toContain('export declare function createSolute(options: SoluteOptions): Solute;');
      expect(dts).not.toMatch(/from '\./);
    }
  });

  it('ready to publish: no runtime dependencies, only dist and the docs in the tarball, a CHANGELOG entry for this version', () => {
    expect(pkg.dependencies ?? {}).toEqual({});
    expect(pkg.private).toBeUndefined();
    expect(pkg.files).toEqual(['dist', 'README.md', 'CHANGELOG.md']);
    expect(fs.readFileSync(path.join(DIR, 'CHANGELOG.md'), 'utf8')).toContain(`## ${pkg.version}`);
    expect(fs.existsSync(path.join(DIR, 'README.md'))).toBe(true);
  });
});
