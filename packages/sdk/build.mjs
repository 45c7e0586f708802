// Builds dist/: index.mjs (ESM) and index.cjs (CJS) for bundlers and Node, solute.iife.js (minified,
// sets window.Solute) for a <script> tag, and the type declarations (tsc), one self-contained file
// copied for each module kind. The version in package.json is written into the code as
// context.library.version.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const dir = import.meta.dirname;
const dist = path.join(dir, 'dist');
const { version } = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
fs.rmSync(dist, { recursive: true, force: true });

const common = {
  entryPoints: [path.join(dir, 'src/index.ts')],
  bundle: true,
  target: 'es2020',
  define: { __SDK_VERSION__: JSON.stringify(version) },
  logLevel: 'warning',
};
await Promise.all([
  build({ ...common, format: 'esm', platform: 'neutral', outfile: path.join(dist, 'index.mjs') }),
  build({ ...common, format: 'cjs', platform: 'node', outfile: path.join(dist, 'index.cjs') }),
  build({ ...common, format: 'iife', platform: 'browser', globalName: 'Solute', minify: true, outfile: path.join(dist, 'solute.iife.js') }),
]);

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', path.join(dir, 'tsconfig.json')], { stdio: 'inherit' });
const dts = fs.readFileSync(path.join(dist, 'types/index.d.ts'), 'utf8');
if (/from '\./.test(dts)) throw new Error('index.d.ts imports another file: keep the public types in src/index.ts');
for (const name of ['index.d.ts', 'index.d.mts', 'index.d.cts']) fs.writeFileSync(path.join(dist, name), dts);
fs.rmSync(path.join(dist, 'types'), { recursive: true });
