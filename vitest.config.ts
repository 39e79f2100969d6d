import { defineConfig } from "vitest/config";

/**
 * Integration test files run in parallel: each one that runs services has a NATS server of its own
 * (`useFileStack` from @trellis/stack/vitest), so their fixed subjects, queue groups, streams and
 * durable consumers never meet; MongoDB and Redis are shared, kept apart by per-file database names
 * and Redis key prefixes. A server given by TRELLIS_NATS_URL is one server for every file, so then
 * files run one at a time.
 *
 * Two workers: the files mostly wait on their child processes, but those need CPU too, and this
 * machine has two cores. Measured (npm test, quiet machine): 2 workers 25.0-26.0 s, 3 25.5-26.7 s,
 * 4 24.7-29.3 s, one file at a time 35.6 s; 2 uses the least CPU and varies least.
 * `npm test -- --maxWorkers=N` tries another count.
 */
const sharedNats = Boolean(process.env.TRELLIS_NATS_URL);

export default defineConfig({
  test: {
    reporters: ["default", "./tests/summary-reporter.ts"],
    // Set for the whole run: vitest needs one maxWorkers for projects that run side by side.
    maxWorkers: 2,
    projects: [
      {
        test: {
          name: "unit",
          // scripts/docs: the docs' own checks (generated configuration, links).
          include: ["packages/*/src/**/*.test.ts", "services/*/src/**/*.test.ts", "scripts/**/*.test.ts"],
          exclude: ["**/*.int.test.ts", "**/node_modules/**"],
        },
      },
      {
        test: {
          name: "integration",
          include: ["packages/*/src/**/*.int.test.ts", "services/*/src/**/*.int.test.ts", "tests/**/*.int.test.ts"],
          // Shared servers for the run (tests/global-setup.ts), plus a NATS server per file.
          globalSetup: ["tests/global-setup.ts"],
          fileParallelism: !sharedNats,
          testTimeout: 30_000,
          hookTimeout: 90_000,
        },
      },
    ],
  },
});
