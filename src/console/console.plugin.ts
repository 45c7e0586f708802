// The console, served by Solute itself: its files at / and /assets/, its API under /api/console/ and
// /api/dead-letters, and the session hook through which the read routes serve it. app.ts calls
// registerConsole first inside its routes plugin, so the hook applies to every route after it.
import type { FastifyInstance } from 'fastify';
import type { KeyResolver } from '../contracts/key-store.js';
import type { SessionStore } from '../contracts/console.js';
import type { Metrics } from '../metrics.js';
import type { LiveFeed } from './live-feed.js';
import { sessionReadHook, sessionRoutes } from './session.js';
import { liveRoute } from './live.route.js';
import { deadLetterRoutes } from './dead-letters.route.js';
import type { DeadLetterOps } from '../process/dead-letter-ops.js';
import { healthRoute } from './health.route.js';
import { DEFAULT_ASSETS_DIR, staticRoutes } from './static.js';

export interface ConsoleDeps {
  sessions: SessionStore;
  /** The live view's fan-out; absent in a process that does not acknowledge events (processor role). */
  live?: LiveFeed;
  /** Dead-letter listing and replay; absent where there is no store. */
  deadLetters?: DeadLetterOps;
  /** Where the built files are (default: dist/ui beside the code). */
  assetsDir?: string;
}

export interface ConsoleConfig {
  consoleSessionMs: number;
  consoleLiveSubscribers: number;
}

export function registerConsole(app: FastifyInstance, config: ConsoleConfig, deps: { keys: KeyResolver; metrics: Metrics; console: ConsoleDeps }): void {
  const c = deps.console;
  app.addHook('onRequest', sessionReadHook(c.sessions));
  staticRoutes(app, c.assetsDir ?? DEFAULT_ASSETS_DIR);
  sessionRoutes(app, { keys: deps.keys, sessions: c.sessions, lifetimeMs: config.consoleSessionMs });
  healthRoute(app, { registry: deps.metrics.registry, keys: deps.keys, live: c.live ?? null });
  if (c.live) {
    const live = c.live;
    liveRoute(app, { live, sessions: c.sessions, maxSubscribers: config.consoleLiveSubscribers });
    // Open streams would hold app.close() until their clients leave.
    app.addHook('preClose', async () => live.close());
  }
  if (c.deadLetters) deadLetterRoutes(app, { ops: c.deadLetters, sessions: c.sessions });
}
