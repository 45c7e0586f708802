// Where each part of the embedded default lives under the data directory.
import path from 'node:path';

export interface DataPaths {
  meta: string;
  store: string;
  log: string;
  dedupe: string;
  /** The running server's admin socket (bin/solute talks to it). */
  adminSocket: string;
}

export function dataPaths(dataDir: string): DataPaths {
  return {
    meta: path.join(dataDir, 'meta.sqlite'),
    store: path.join(dataDir, 'store', 'events.duckdb'),
    log: path.join(dataDir, 'log'),
    dedupe: path.join(dataDir, 'dedupe'),
    adminSocket: path.join(path.resolve(dataDir), 'admin.sock'),
  };
}
