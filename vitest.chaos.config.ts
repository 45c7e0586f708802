import { defineConfig } from 'vitest/config';

// `npm run chaos`: long fault-injection runs, kept out of `npm test`.
export default defineConfig({
  test: { include: ['test/chaos/**/*.chaos.ts'], testTimeout: 3_600_000, hookTimeout: 60_000 },
});
