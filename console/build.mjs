// Builds the console (console/src, Preact) into dist/ui: index.html and assets/ with content-hashed
// names, so the server can cache assets for a year and revalidate only index.html. Run by
// `npm run build` (and so by the root `npm install`, through `prepare`). No CDN, no external font:
// everything the page loads is in dist/ui.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';

const root = path.resolve(import.meta.dirname, '..');
const out = path.join(root, 'dist', 'ui');
const assets = path.join(out, 'assets');
fs.rmSync(out, { recursive: true, force: true });

const result = await build({
  absWorkingDir: root,
  entryPoints: { app: 'console/src/main.tsx' },
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  outdir: assets,
  entryNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  metafile: true,
  legalComments: 'none',
  logLevel: 'warning',
});

const outputs = Object.keys(result.metafile.outputs).map((f) => path.relative(out, path.resolve(root, f)).split(path.sep).join('/'));
const js = outputs.find((f) => f.endsWith('.js'));
const css = outputs.find((f) => f.endsWith('.css'));
if (!js || !css) throw new Error(`console build: expected a .js and a .css output, got ${outputs.join(', ')}`);

// The icon, hashed like the rest (a request for /favicon.ico would get the API's 404).
const icon = fs.readFileSync(path.join(root, 'console', 'src', 'icon.svg'));
const iconName = `assets/icon-${crypto.createHash('sha256').update(icon).digest('hex').slice(0, 8)}.svg`;
fs.writeFileSync(path.join(out, iconName), icon);

// Relative URLs only: the console works at / and under any path prefix of a reverse proxy.
fs.writeFileSync(
  path.join(out, 'index.html'),
  `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Solute console</title>
<link rel="icon" href="${iconName}" type="image/svg+xml">
<link rel="stylesheet" href="${css}">
<script type="module" src="${js}"></script>
</head>
<body>
<div id="app"></div>
<noscript>The Solute console needs JavaScript.</noscript>
</body>
</html>
`,
);
const size = (f) => fs.statSync(path.join(out, f)).size;
console.log(`console built: dist/ui/${js} (${size(js)} B), dist/ui/${css} (${size(css)} B)`);
