import { defineConfig } from "vitest/config";

/**
 * `npm run test:cluster`: the scaled-out stack (`npm run start:cluster`: three NATS nodes, ten
 * service processes, FerretDB, Redis) started from its script and put through a NATS node's loss.
 * Apart from `npm test` because it needs the whole two-core machine for a couple of minutes.
 */
export default defineConfig({
  test: {
    include: ["tests/**/*.cluster.test.ts"],
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 240_000,
  },
});
