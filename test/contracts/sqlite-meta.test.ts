// The key store contract against the embedded store: SQLite in the data directory.
import fs from 'node:fs';
import path from 'node:path';
import { MetaStore, metaKeyAdmin } from '../../src/store/sqlite/meta.store.js';
import { tempDir } from '../helpers/solute.js';
import { keyStoreContract, type KeyStoreInstance } from './key-store.contract.js';

let dir = '';
const file = () => path.join(dir, 'meta.sqlite');

function instance(meta: MetaStore): KeyStoreInstance {
  return { resolver: meta, admin: metaKeyAdmin(meta), close: async () => meta.close() };
}

keyStoreContract('SQLite (MetaStore)', {
  async reset() {
    dir = tempDir('solute-meta-');
  },
  async openServer(keyRefreshMs) {
    const meta = new MetaStore(file());
    meta.watch(keyRefreshMs);
    return instance(meta);
  },
  async openCli() {
    return instance(new MetaStore(file()));
  },
  async atRest() {
    // The database and whatever WAL or shared-memory file SQLite left beside it.
    return Buffer.concat(fs.readdirSync(dir).map((f) => fs.readFileSync(path.join(dir, f))));
  },
});
