// Registered in vitest.config.ts (setupFiles): runs in every test file before it. Its afterAll is the
// first one registered, so it runs last, after the file's own hooks have stopped its servers.
import { afterAll } from 'vitest';
import { removeTempDirs } from './temp-dirs.js';

afterAll(removeTempDirs);
