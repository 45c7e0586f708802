// bin/solute: `serve` runs the server in this process; `keys ...`, `origins ...` and `limits ...` manage
// API keys and per-project settings in the data dir (or in PostgreSQL with SOLUTE_STORE=postgres://...),
// also while the servers run.
import { lowerBackgroundThreads } from '../lib/thread-priority.js';
import { parseArgs } from 'node:util';
import fs from 'node:fs/promises';
import { loadConfig, type Config } from '../config.js';
import { dataPaths } from '../data-paths.js';
import { MetaStore, metaKeyAdmin } from '../store/sqlite/meta.store.js';
import type { KeyAdmin } from '../contracts/key-store.js';
import { PROJECT_NAME } from '../auth/api-key.js';
import { PRIVATE_UMASK } from '../lib/private-files.js';

const USAGE = `usage:
  solute serve [--port N]                 run the server (ingest and processor)
  solute keys create --project NAME        print a new write key (wk_...)
  solute keys create --project NAME --secret   print a new secret key (sk_...)
  solute keys list                         list keys (prefix, project, kind, created, revoked)
  solute keys revoke PREFIX                revoke the key that PREFIX designates
  solute origins set --project NAME ORIGIN...   only these browser origins may send for NAME
  solute origins clear --project NAME      any origin may send for NAME again
  solute origins list                      list projects with an allowed-origins list
  solute dead-letters list [--project NAME] [--limit N] [--after ID] [--json]
                                           events the processor could not store, with step and reason
  solute dead-letters replay (--id ID... | --all) [--project NAME]
                                           run them through processing again (after fixing the cause)
  solute limits set --project NAME --events-per-second N [--burst M]
                                           rate-limit NAME's ingest to N events/s, M at once
                                           (default M: max(N, SOLUTE_MAX_BATCH_EVENTS))
  solute limits clear --project NAME       no rate limit for NAME (the default)
  solute limits list                       list projects with a rate limit
  solute export [--out FILE]               write the embedded installation (keys, events, dead letters) as NDJSON;
                                           the server must be stopped
  solute import [--in FILE]                read an export into PostgreSQL (SOLUTE_STORE=postgres://...);
                                           profiles and groups are rebuilt from the events; safe to repeat
  solute seed --events N --users U [--project NAME] [--days D]
                                           write N synthetic events of U users over the last D days (30)
                                           into the store, in arrival order; the server must be stopped
                                           (with SOLUTE_STORE=postgres://..., into PostgreSQL: servers may run)

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
  // A signal that arrives while the server starts (it answers /readyz a moment before this function
  // goes on) is kept and acted on once it has started, so it still ends in a clean shutdown.
  let early: string | null = null;
  const keep = (signal: string) => () => (early ??= signal);
  const keepTerm = keep('SIGTERM');
  const keepInt = keep('SIGINT');
  process.on('SIGTERM', keepTerm);
  process.on('SIGINT', keepInt);
  const solute = await startSolute(config);
  // Only the served process: tests that start Solute inside their own process keep their priorities.
  lowerBackgroundThreads(config.backgroundNice);
  process.off('SIGTERM', keepTerm);
  process.off('SIGINT', keepInt);
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
  if (early !== null) stop(early);
  // The last resort: a rejection or exception nothing handled is a defect, but it must not end the
  // process mid-write. Log it, stop accepting, flush and close in order (everything acknowledged is
  // already in the log, which the next start recovers), then exit 1 for the supervisor to restart.
  const fatal = (kind: string) => (err: unknown) => {
    solute.logger.fatal({ err, kind }, 'unexpected error: stopping cleanly (everything acknowledged is recoverable)');
    process.exitCode = 1;
    if (signalled) return;
    signalled = true;
    solute.close().then(
      () => process.exit(1),
      () => process.exit(1),
    );
    setTimeout(() => process.exit(1), config.shutdownTimeoutMs + 5000).unref();
  };
  process.on('unhandledRejection', fatal('unhandledRejection'));
  process.on('uncaughtException', fatal('uncaughtException'));
}

/**
 * The key store the servers read: PostgreSQL when SOLUTE_STORE is set (every server then sees a
 * change within a few milliseconds, by notification), else the SQLite file in the data dir.
 */
async function openKeyAdmin(config: Config): Promise<{ admin: KeyAdmin; close(): Promise<void> }> {
  if (config.store === '') {
    const meta = new MetaStore(dataPaths(config.dataDir).meta);
    return { admin: metaKeyAdmin(meta), close: async () => meta.close() };
  }
  // Loaded here so that the embedded setup starts without pg.
  const { default: pg } = await import('pg');
  const { PgMetaStore } = await import('../store/postgres/pg.meta.js');
  const pool = new pg.Pool({ connectionString: config.store, max: 2 });
  try {
    const { schemaFor } = await import('../store/postgres/pg.schema-name.js');
    const store = await PgMetaStore.open(pool, { schema: await schemaFor(config.store, config.pgSchema) });
    return { admin: store, close: () => store.close().finally(() => pool.end()) };
  } catch (err) {
    await pool.end().catch(() => {});
    throw new Error(`cannot open the key store in PostgreSQL (SOLUTE_STORE): ${(err as Error).message}`);
  }
}

async function keys(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  const config = loadConfig(process.env);
  const { admin: meta, close } = await openKeyAdmin(config);
  try {
    if (sub === 'create') {
      const { values } = parseArgs({ args: rest, options: { project: { type: 'string' }, secret: { type: 'boolean' } }, strict: true });
      if (!values.project) fail('keys create needs --project NAME');
      if (!PROJECT_NAME.test(values.project)) fail('project names are 1-64 characters: letters, digits, _ . - (starting with a letter or digit)');
      process.stdout.write((await meta.createKey(values.project, values.secret ? 'secret' : 'write')) + '\n');
    } else if (sub === 'list') {
      parseArgs({ args: rest, options: {}, strict: true });
      const rows = await meta.listKeys();
      process.stdout.write('PREFIX\tPROJECT\tKIND\tCREATED\tREVOKED\n');
      for (const k of rows) process.stdout.write(`${k.prefix}\t${k.project}\t${k.kind}\t${k.createdAt}\t${k.revokedAt ?? '-'}\n`);
    } else if (sub === 'revoke') {
      const { positionals } = parseArgs({ args: rest, options: {}, allowPositionals: true, strict: true });
      if (positionals.length !== 1 || positionals[0].length < 4) fail('keys revoke needs one PREFIX (at least 4 characters, e.g. wk_AbCd1234)');
      const { matched, revoked } = await meta.revokeKey(positionals[0]);
      if (matched === 0) fail(`no active key starts with ${positionals[0]}`, 1);
      if (matched > 1) fail(`${matched} active keys start with ${positionals[0]}; give more characters`, 1);
      process.stdout.write(`revoked ${revoked!.prefix} (${revoked!.kind} key of project ${revoked!.project})\n`);
    } else {
      fail(USAGE);
    }
  } finally {
    await close();
  }
}

async function origins(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  const config = loadConfig(process.env);
  const { admin: meta, close } = await openKeyAdmin(config);
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
      await meta.setAllowedOrigins(values.project, list);
      process.stdout.write(list.length ? `project ${values.project}: only ${list.join(', ')}\n` : `project ${values.project}: any origin\n`);
    } else if (sub === 'list') {
      parseArgs({ args: rest, options: {}, strict: true });
      process.stdout.write('PROJECT\tALLOWED ORIGINS\n');
      // Projects whose row holds only other settings (a rate limit) or a cleared list are not shown.
      for (const p of await meta.listAllowedOrigins()) if (p.origins.length) process.stdout.write(`${p.project}\t${p.origins.join(' ')}\n`);
    } else {
      fail(USAGE);
    }
  } finally {
    await close();
  }
}

/** A whole number of at least 1 given as a flag, or a usage error. */
function positiveInt(flag: string, value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) fail(`${flag} must be a whole number of at least 1, got ${JSON.stringify(value)}`);
  return n;
}

async function limits(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  const config = loadConfig(process.env);
  const { admin: meta, close } = await openKeyAdmin(config);
  try {
    if (sub === 'set') {
      const { values } = parseArgs({
        args: rest,
        options: { project: { type: 'string' }, 'events-per-second': { type: 'string' }, burst: { type: 'string' } },
        strict: true,
      });
      if (!values.project || !PROJECT_NAME.test(values.project)) fail('limits set needs --project NAME');
      if (values['events-per-second'] === undefined) fail('limits set needs --events-per-second N');
      const eventsPerSecond = positiveInt('--events-per-second', values['events-per-second']);
      const burst = values.burst === undefined ? null : positiveInt('--burst', values.burst);
      await meta.setRateLimit(values.project, { eventsPerSecond, burst });
      const at = burst ?? `${Math.max(eventsPerSecond, config.maxBatchEvents)} (default)`;
      process.stdout.write(`project ${values.project}: ${eventsPerSecond} events per second, ${at} at once\n`);
    } else if (sub === 'clear') {
      const { values } = parseArgs({ args: rest, options: { project: { type: 'string' } }, strict: true });
      if (!values.project || !PROJECT_NAME.test(values.project)) fail('limits clear needs --project NAME');
      await meta.setRateLimit(values.project, null);
      process.stdout.write(`project ${values.project}: no rate limit\n`);
    } else if (sub === 'list') {
      parseArgs({ args: rest, options: {}, strict: true });
      process.stdout.write('PROJECT\tEVENTS/S\tBURST\n');
      for (const l of await meta.listRateLimits()) process.stdout.write(`${l.project}\t${l.eventsPerSecond}\t${l.burst ?? `${Math.max(l.eventsPerSecond, config.maxBatchEvents)} (default)`}\n`);
    } else {
      fail(USAGE);
    }
  } finally {
    await close();
  }
}

/**
 * Dead letters live in the store, which one process may open: through the running server's admin
 * socket when it runs, else by opening the store here.
 */
async function deadLetters(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  const config = loadConfig(process.env);
  const { adminRequest } = await import('../admin/admin.server.js');
  const socket = dataPaths(config.dataDir).adminSocket;
  const offline = async <T>(fn: (ops: Awaited<ReturnType<typeof import('../main.js').openOffline>>) => Promise<T>): Promise<T> => {
    const { openOffline } = await import('../main.js');
    const { pino } = await import('pino');
    const ops = await openOffline(config, pino({ level: 'warn' }, pino.destination(2))).catch((err: Error) => {
      if (/lock/i.test(err.message)) fail(`the store is in use by a running server whose admin socket ${socket} does not answer`, 1);
      throw err;
    });
    try {
      return await fn(ops);
    } finally {
      await ops.close();
    }
  };
  if (sub === 'list') {
    const { values } = parseArgs({
      args: rest,
      options: { project: { type: 'string' }, limit: { type: 'string', default: '100' }, after: { type: 'string' }, json: { type: 'boolean' } },
      strict: true,
    });
    const limit = Number(values.limit);
    const after = values.after === undefined ? undefined : Number(values.after);
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) fail('--limit must be an integer from 1 to 10000');
    if (after !== undefined && (!Number.isInteger(after) || after < 0)) fail('--after must be a dead-letter id');
    const qs = new URLSearchParams({ limit: String(limit), ...(values.project ? { project: values.project } : {}), ...(after !== undefined ? { after: String(after) } : {}) });
    const answer = await adminRequest(socket, 'GET', `/dead-letters?${qs}`);
    if (answer && answer.status !== 200) fail(`server: ${answer.body?.message ?? answer.status}`, 1);
    const rows = answer ? (answer.body.deadLetters as Array<Record<string, unknown>>) : await offline((ops) => ops.deadLetters({ project: values.project, limit, afterId: after }));
    if (values.json) {
      process.stdout.write(JSON.stringify(rows) + '\n');
      return;
    }
    process.stdout.write('ID\tPROJECT\tSEGMENT:LINE\tSTEP\tATTEMPTS\tCREATED\tREASON\n');
    for (const d of rows) {
      const reason = String(d.reason).replace(/\s+/g, ' ').slice(0, 200);
      process.stdout.write(`${d.id}\t${d.project ?? '-'}\t${d.segment}:${d.index}\t${d.step}\t${d.attempts}\t${d.createdAt}\t${reason}\n`);
    }
  } else if (sub === 'replay') {
    const { values } = parseArgs({ args: rest, options: { id: { type: 'string', multiple: true }, all: { type: 'boolean' }, project: { type: 'string' } }, strict: true });
    const ids = values.id?.flatMap((v) => v.split(',')).map(Number);
    if ((ids === undefined) === !values.all) fail('dead-letters replay needs --id ID (repeatable) or --all');
    if (ids && ids.some((id) => !Number.isInteger(id) || id < 1)) fail('--id takes dead-letter ids as `dead-letters list` shows them');
    const body = ids ? { ids, project: values.project } : { all: true, project: values.project };
    const answer = await adminRequest(socket, 'POST', '/dead-letters/replay', body);
    if (answer && answer.status !== 200) fail(`server: ${answer.body?.message ?? answer.status}`, 1);
    const r = answer ? (answer.body as { stored: number; failed: number; missing: number }) : await offline((ops) => ops.replay({ ids, project: values.project }));
    process.stdout.write(`stored ${r.stored}, failed again ${r.failed}, not found ${r.missing}\n`);
    if (r.failed > 0) process.exitCode = 1;
  } else {
    fail(USAGE);
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
  if (config.store !== '') {
    // A cluster's store: the same events, generated in PostgreSQL (store/postgres/pg.seed.ts).
    const { default: pg } = await import('pg');
    const { PgStore } = await import('../store/postgres/pg.store.js');
    const { seedPg } = await import('../store/postgres/pg.seed.js');
    const { schemaFor } = await import('../store/postgres/pg.schema-name.js');
    const schema = await schemaFor(config.store, config.pgSchema);
    const store = await PgStore.open(config.store, { schema }); // creates or migrates the tables
    await store.close();
    const pool = new pg.Pool({ connectionString: config.store, max: 1, options: `-c search_path=${schema}` });
    try {
      const r = await seedPg(pool, { ...opts, now: Date.now(), salt: Date.now() % 1_000_000 });
      process.stdout.write(`seeded ${r.events} events of ${opts.users} users (${r.identifiedUsers} identified) over ${opts.days} days into project ${project} (PostgreSQL, schema ${schema}) in ${r.seconds.toFixed(1)} s\n`);
    } finally {
      await pool.end();
    }
    return;
  }
  const { DuckDbStore } = await import('../store/duckdb/duckdb.store.js');
  const { seed } = await import('../store/duckdb/seed.js');
  const file = dataPaths(config.dataDir).store;
  const store = await DuckDbStore.open(file, { memoryLimit: config.storeMemoryLimit, threads: config.storeThreads }).catch((err: Error) => {
    // DuckDB allows one writing process: a running server holds the lock.
    if (/lock/i.test(err.message)) fail(`the store in ${config.dataDir} is in use (is solute serve running on it?): stop the server, seed, then start it again`, 1);
    throw err;
  });
  try {
    // Seeded events take the seqs after the store's last; unprocessed log lines may hold those too, and
    // seqs name the rows each load adds to the summaries (store/duckdb/duckdb.summaries.ts).
    const { listSegments } = await import('../log/segment.log.js');
    const done = await store.lastSegmentId();
    const pending = [];
    for (const s of await listSegments(dataPaths(config.dataDir).log)) if (s.id > done && (await fs.stat(s.file)).size > 0) pending.push(s);
    if (pending.length > 0) {
      fail(`the log in ${config.dataDir} holds ${pending.length} segment(s) not yet stored: start solute serve until /readyz answers and the backlog is 0, stop it, then seed`, 1);
    }
    const r = await seed(store.queryConnection(), { ...opts, now: Date.now(), salt: Date.now() % 1_000_000 });
    process.stdout.write(`seeded ${r.events} events of ${opts.users} users (${r.identifiedUsers} identified) over ${opts.days} days into project ${project} in ${r.seconds.toFixed(1)} s\n`);
  } finally {
    await store.close();
  }
}

async function transfer(cmd: 'export' | 'import', argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { out: { type: 'string' }, in: { type: 'string' } }, strict: true });
  const config = loadConfig(process.env);
  const fs = await import('node:fs');
  const { exportEmbedded, importToPostgres } = await import('../transfer.js');
  const started = Date.now();
  let counts;
  if (cmd === 'export') {
    if (values.in !== undefined) fail('export takes --out FILE (default: stdout)');
    if (config.store !== '') fail('export reads the embedded data directory; unset SOLUTE_STORE');
    const out = values.out ? fs.createWriteStream(values.out) : process.stdout;
    counts = await exportEmbedded(config, out).catch((err: Error) => {
      if (/lock/i.test(err.message)) fail(`the store in ${config.dataDir} is in use: stop solute serve, then export`, 1);
      throw err;
    });
    if (values.out) await new Promise<void>((resolve, reject) => (out as import('node:fs').WriteStream).end((err?: Error | null) => (err ? reject(err) : resolve())));
  } else {
    if (values.out !== undefined) fail('import takes --in FILE (default: stdin)');
    if (config.store === '') fail('import writes to PostgreSQL: set SOLUTE_STORE=postgres://...');
    const { pino } = await import('pino');
    counts = await importToPostgres(config, values.in ? fs.createReadStream(values.in) : process.stdin, pino({ level: 'info' }, pino.destination(2)));
  }
  const verb = cmd === 'export' ? 'exported' : 'imported';
  process.stderr.write(`${verb} ${counts.events} events, ${counts.deadLetters} dead letters, ${counts.keys} keys, ${counts.projects} project settings in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}

async function main(): Promise<void> {
  // Everything any command creates (log segments, dedupe files, DuckDB and SQLite files and their
  // WAL, the admin socket, an export) is for this user only, whichever library creates it.
  process.umask(PRIVATE_UMASK);
  const [cmd, ...rest] = process.argv.slice(2);
  try {
    if (cmd === 'serve') await serve(rest);
    else if (cmd === 'keys') await keys(rest);
    else if (cmd === 'origins') await origins(rest);
    else if (cmd === 'dead-letters') await deadLetters(rest);
    else if (cmd === 'limits') await limits(rest);
    else if (cmd === 'seed') await seedCommand(rest);
    else if (cmd === 'export' || cmd === 'import') await transfer(cmd, rest);
    else if (cmd === '--help' || cmd === '-h' || cmd === 'help') process.stdout.write(USAGE + '\n');
    else fail(USAGE);
  } catch (err) {
    fail((err as Error).message, 1);
  }
}

await main();
