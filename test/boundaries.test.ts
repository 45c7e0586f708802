// Dependencies point one way: the HTTP edge and the pipeline know ports (src/contracts), never
// adapters. Only the composition root (src/main.ts) and the CLI pick adapters.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = path.join(import.meta.dirname, '..', 'src');
const ADAPTERS = ['log', 'dedupe', 'store'];
const LANES = ['ingest', 'query', 'process', 'contracts', 'lib', 'console'];

function files(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = path.join(dir, d.name);
    if (d.isDirectory()) return files(p);
    return p.endsWith('.ts') && !p.endsWith('.test.ts') ? [p] : [];
  });
}

describe('module boundaries', () => {
  for (const lane of LANES) {
    it(`src/${lane} imports no adapter (${ADAPTERS.join(', ')})`, () => {
      const offenders: string[] = [];
      for (const file of files(path.join(SRC, lane))) {
        for (const m of fs.readFileSync(file, 'utf8').matchAll(/from '(\.[^']+)'/g)) {
          const target = path.relative(SRC, path.resolve(path.dirname(file), m[1]));
          if (ADAPTERS.includes(target.split(path.sep)[0])) offenders.push(`${path.relative(SRC, file)} -> ${target}`);
        }
      }
      expect(offenders).toEqual([]);
    });
  }

  it('the SDK (packages/sdk/src) imports only its own files, and the server nothing of it', () => {
    const sdk = path.join(SRC, '..', 'packages', 'sdk', 'src');
    const offenders: string[] = [];
    for (const file of files(sdk)) {
      for (const m of fs.readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)) {
        if (!m[1].startsWith('./')) offenders.push(`${path.relative(sdk, file)} -> ${m[1]}`);
      }
    }
    for (const file of files(SRC)) {
      for (const m of fs.readFileSync(file, 'utf8').matchAll(/from '([^']+)'/g)) {
        if (m[1].includes('packages/') || m[1].startsWith('@solute-ai/')) offenders.push(`${path.relative(SRC, file)} -> ${m[1]}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it('adapters do not import the HTTP edge or the pipeline', () => {
    const offenders: string[] = [];
    for (const adapter of ADAPTERS) {
      for (const file of files(path.join(SRC, adapter))) {
        for (const m of fs.readFileSync(file, 'utf8').matchAll(/from '(\.[^']+)'/g)) {
          const target = path.relative(SRC, path.resolve(path.dirname(file), m[1]));
          if (['ingest', 'query', 'process', 'console', 'main.js', 'cli'].includes(target.split(path.sep)[0])) offenders.push(`${path.relative(SRC, file)} -> ${target}`);
        }
      }
    }
    expect(offenders).toEqual([]);
  });
});
