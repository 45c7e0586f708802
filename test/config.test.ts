import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_ENV_VARS, loadConfig } from '../src/config.js';

const doc = fs.readFileSync(path.join(import.meta.dirname, '..', 'docs', 'configuration.md'), 'utf8');

describe('configuration', () => {
  it('documents every environment variable the code reads, and no other', () => {
    const documented = new Set([...doc.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]));
    expect(documented).toEqual(new Set(Object.values(CONFIG_ENV_VARS)));
  });

  it('documents the defaults the code uses', () => {
    const cfg = loadConfig({});
    for (const [key, name] of Object.entries(CONFIG_ENV_VARS)) {
      const row = new RegExp('^\\| `' + name + '` \\| `([^`]*)`', 'm').exec(doc);
      expect(row, name).not.toBeNull();
      const value = (cfg as Record<string, unknown>)[key];
      if (key === 'dataDir') expect(path.resolve(row![1])).toBe(value);
      else expect(row![1], name).toBe(String(value));
    }
  });

  it('refuses an invalid value and names the variable', () => {
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/PORT/);
    expect(() => loadConfig({ SOLUTE_MAX_BATCH_EVENTS: '0' })).toThrow(/SOLUTE_MAX_BATCH_EVENTS/);
    expect(loadConfig({ PORT: '9000' }).port).toBe(9000);
    expect(() => loadConfig({ SOLUTE_BACKLOG_MAX_EVENTS: '50' })).toThrow(/SOLUTE_BACKLOG_MAX_EVENTS .* SOLUTE_MAX_BATCH_EVENTS/);
    expect(() => loadConfig({ SOLUTE_LOG: 'nats://127.0.0.1:4222' })).toThrow(/SOLUTE_LOG/);
  });
});
