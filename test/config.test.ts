import fs from 'node:fs';
import os from 'node:os';
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
      else if (key === 'storeThreads') (expect(row![1]).toBe('cores - 1'), expect(value).toBe(Math.max(1, os.availableParallelism() - 1)));
      else expect(row![1], name).toBe(String(value));
    }
  });

  it('refuses an invalid value and names the variable', () => {
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/PORT/);
    expect(() => loadConfig({ SOLUTE_MAX_BATCH_EVENTS: '0' })).toThrow(/SOLUTE_MAX_BATCH_EVENTS/);
    expect(loadConfig({ PORT: '9000' }).port).toBe(9000);
    expect(() => loadConfig({ SOLUTE_BACKLOG_MAX_EVENTS: '50' })).toThrow(/SOLUTE_BACKLOG_MAX_EVENTS .* SOLUTE_MAX_BATCH_EVENTS/);
    expect(() => loadConfig({ SOLUTE_LOG: 'nats://127.0.0.1:4222' })).toThrow(/SOLUTE_LOG .*needs SOLUTE_STORE/);
    expect(() => loadConfig({ SOLUTE_LOG: 'http://127.0.0.1:4222', SOLUTE_STORE: 'postgres://127.0.0.1/test' })).toThrow(/SOLUTE_LOG/);
    expect(() => loadConfig({ SOLUTE_STORE: 'mysql://127.0.0.1/test' })).toThrow(/SOLUTE_STORE/);
    expect(() => loadConfig({ SOLUTE_ROLE: 'ingest' })).toThrow(/SOLUTE_ROLE=ingest needs a shared log/);
    expect(loadConfig({ SOLUTE_LOG: 'nats://a:4222,nats://b:4222', SOLUTE_STORE: 'postgres://127.0.0.1:5432/test', SOLUTE_ROLE: 'processor' }).role).toBe('processor');
  });

  it('checks SOLUTE_TRUSTED_PROXIES entry by entry and SOLUTE_IP_MODE against its three values', () => {
    expect(loadConfig({ SOLUTE_TRUSTED_PROXIES: ' 10.0.0.0/8, 127.0.0.1,,::1, fd00::/8 ,loopback' }).trustedProxies).toBe(
      '10.0.0.0/8,127.0.0.1,::1,fd00::/8,loopback',
    );
    for (const bad of ['10.0.0.0/33', 'proxy.internal', '10.0.0.1/abc', '::1/129', '*', 'fe80::1%eth0']) {
      expect(() => loadConfig({ SOLUTE_TRUSTED_PROXIES: `127.0.0.1,${bad}` }), bad).toThrow(/SOLUTE_TRUSTED_PROXIES/);
    }
    expect(loadConfig({ SOLUTE_IP_MODE: 'truncate' }).ipMode).toBe('truncate');
    expect(() => loadConfig({ SOLUTE_IP_MODE: 'hash' })).toThrow(/SOLUTE_IP_MODE/);
  });
});
