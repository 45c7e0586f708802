// bin/solute: `serve` runs the server in this process; `keys ...` manages API keys in the data dir.
import { parseArgs } from 'node:util';
import { loadConfig } from '../config.js';
import { dataPaths } from '../data-paths.js';
import { MetaStore } from '../store/sqlite/meta.store.js';
import { PROJECT_NAME } from '../auth/api-key.js';

const USAGE = `usage:
  solute serve [--port N]                 run the server (ingest and processor)
  solute keys create --project NAME        print a new write key (wk_...)
  solute keys create --project NAME --secret   print a new secret key (sk_...)
  solute keys list                         list keys (prefix, project, kind, created, revoked)
  solute keys revoke PREFIX                revoke the key that PREFIX designates
  solute origins set --project NAME ORIGIN...   only these browser origins may send for NAME
  solute origins clear --project NAME      any origin may send for NAME again
  solute origins list                      list projects with an allowed-origins list
  solute seed --events N --users U [--project NAME] [--days D]
                                           write N synthetic events of U users over the last D days (30)
                                           into the store; the server must be stopped

environment: PORT, SOLUTE_DATA_DIR (default ./data) and the rest in docs/configuration.md`;

function fail(message: string, code = 2): never {
  process.stderr.write(`solute: ${message}\n`);
  process.exit(code);
}

async function serve(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { port: { type: 'string' } }, strict: true });
  const config = loadConfig(process.env, values.port !== undefined ? { port: Number(values.port) } : {});
  // Loaded here so that `keys ...` starts without the server's dependencies (DuckDB, Fastify).
  const { startSolute } = await import('../main.js');
  const solute = await startSolute(config);
  let signalled = false;
  const stop = (signal: string) => {
    if (signalled) return;
    signalled = true;
    solute.logger.info({ signal }, 'shutting down');
    solute.close().then(
      () => process.exit(0),
      (err) => {
        solute.logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
    setTimeout(() => process.exit(1), config.shutdownTimeoutMs + 5000).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

function keys(argv: string[]): void {
  const [sub, ...rest] = argv;
  const config = loadConfig(process.env);
  const meta = new MetaStore(dataPaths(config.dataDir).meta);
  try {
    if (sub === 'create') {
      const { values } = parseArgs({ args: rest, options: { project: { type: 'string' }, secret: { type: 'boolean' } }, strict: true });
      if (!values.project) fail('keys create needs --project NAME');
      if (!PROJECT_NAME.test(values.project)) fail('project names are 1-64 characters: letters, digits, _ . - (starting with a letter or digit)');
      process.stdout.write(meta.createKey(values.project, values.secret ? 'secret' : 'write') + '\n');
    } else if (sub === 'list') {
      parseArgs({ args: rest, options: {}, strict: true });
      const rows = meta.listKeys();
      process.stdout.write('PREFIX\tPROJECT\tKIND\tCREATED\tREVOKED\n');
      for (const k of rows) process.stdout.write(`${k.prefix}\t${k.project}\t${k.kind}\t${k.createdAt}\t${k.revokedAt ?? '-'}\n`);
    } else if (sub === 'revoke') {
      const { positionals } = parseArgs({ args: rest, options: {}, allowPositionals: true, strict: true });
      if (positionals.length !== 1 || positionals[0].length < 4) fail('keys revoke needs one PREFIX (at least 4 characters, e.g. wk_AbCd1234)');
      const { matched, revoked } = meta.revokeKey(positionals[0]);
      if (matched === 0) fail(`no active key starts with ${positionals[0]}`, 1);
      if (matched > 1) fail(`${matched} active keys start with ${positionals[0]}; give more characters`, 1);
      process.stdout.write(`revoked ${revoked!.prefix} (${revoked!.kind} key of project ${revoked!.project})\n`);
    } else {
      fail(USAGE);
    }
  } finally {
    meta.close();
  }
}

function origins(argv: string[]): void {
  const [sub, ...rest] = argv;
  const config = loadConfig(process.env);
  const meta = new MetaStore(dataPaths(config.dataDir).meta);
  try {
    if (sub === 'set' || sub === 'clear') {
      const { values, positionals } = parseArgs({ args: rest, options: { project: { type: 'string' } }, allowPositionals: true, strict: true });
      if (!values.project || !PROJECT_NAME.test(values.project)) fail(`origins ${sub} needs --project NAME`);
      if (sub === 'clear' && positionals.length > 0) fail('origins clear takes no origins');
      if (sub === 'set' && positionals.length === 0) fail('origins set needs at least one ORIGIN, e.g. https://app.example.com');
      const list = positionals.map((o) => {
        let url: URL;
        try {
          url = new URL(o);
        } catch {
          fail(`not an origin: ${o} (e.g. https://app.example.com)`);
        }
        if (url.origin === 'null' || url.origin !== o.replace(/\/$/, '').toLowerCase()) fail(`not an origin: ${o} (scheme://host[:port], no path)`);
        return url.origin;
      });
      meta.setAllowedOrigins(values.project, list);
      process.stdout.write(list.length ? `project ${values.project}: only ${list.join(', ')}\n` : `project ${values.project}: any origin\n`);
    } else if (sub === 'list') {
      parseArgs({ args: rest, options: {}, strict: true });
      process.stdout.write('PROJECT\tALLOWED ORIGINS\n');
      for (const p of meta.listAllowedOrigins()) process.stdout.write(`${p.project}\t${p.origins.length ? p.origins.join(' ') : '(any)'}\n`);
    } else {
      fail(USAGE);
    }
  } finally {
    meta.close();
  }
}

/** A positive integer option, with `k`/`M` suffixes (10M = 10,000,000). */
function count(name: string, v: string | undefined, dflt?: number): number {
  if (v === undefined) {
    if (dflt === undefined) fail(`seed needs --${name} N`);
    return dflt;
  }
  const m = /^(\d+)([kKmM]?)$/.exec(v);
  const n = m ? Number(m[1]) * (m[2] === '' ? 1 : /k/i.test(m[2]) ? 1e3 : 1e6) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) fail(`--${name} must be a positive integer (e.g. 1000000 or 1M), got ${JSON.stringify(v)}`);
  return n;
}

async function seedCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { events: { type: 'string' }, users: { type: 'string' }, project: { type: 'string' }, days: { type: 'string' } },
    strict: true,
  });
  const project = values.project ?? 'demo';
  if (!PROJECT_NAME.test(project)) fail('project names are 1-64 characters: letters, digits, _ . - (starting with a letter or digit)');
  const opts = { project, events: count('events', values.events), users: count('users', values.users), days: count('days', values.days, 30) };
  if (opts.days > 3650) fail('--days is at most 3650');
  const config = loadConfig(process.env);
  const { DuckDbStore } = await import('../store/duckdb/duckdb.store.js');
  const { seed } = await import('../store/duckdb/seed.js');
  const file = dataPaths(config.dataDir).store;
  const store = await DuckDbStore.open(file, { memoryLimit: config.storeMemoryLimit, threads: config.storeThreads }).catch((err: Error) => {
    // DuckDB allows one writing process: a running server holds the lock.
    if (/lock/i.test(err.message)) fail(`the store in ${config.dataDir} is in use (is solute serve running on it?): stop the server, seed, then start it again`, 1);
    throw err;
  });
  try {
    const r = await seed(store.queryConnection(), { ...opts, now: Date.now(), salt: Date.now() % 1_000_000 });
    process.stdout.write(`seeded ${r.events} events of ${opts.users} users (${r.identifiedUsers} identified) over ${opts.days} days into project ${project} in ${r.seconds.toFixed(1)} s\n`);
  } finally {
    await store.close();
  }
}

async function main(): Promise<void> {
  const [cmd, ...rest] = process.argv.slice(2);
  try {
    if (cmd === 'serve') await serve(rest);
    else if (cmd === 'keys') keys(rest);
    else if (cmd === 'origins') origins(rest);
    else if (cmd === 'seed') await seedCommand(rest);
    else if (cmd === '--help' || cmd === '-h' || cmd === 'help') process.stdout.write(USAGE + '\n');
    else fail(USAGE);
  } catch (err) {
    fail((err as Error).message, 1);
  }
}

await main();
