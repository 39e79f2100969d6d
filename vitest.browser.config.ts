import { defineConfig } from "vitest/config";

/**
 * `npm run test:browser`: the web console in a real browser (Debian's chromium, driven by
 * playwright-core) against real services, like the integration tests (shared servers from
 * tests/global-setup.ts, a NATS server per file). Kept out of `npm test`: it needs chromium and
 * takes a few minutes; `.ci/run` runs it before `npm test`. Screenshots: artifacts/console-screenshots/.
 */
export default defineConfig({
  test: {
    include: ["tests/browser/**/*.browser.test.ts"],
    globalSetup: ["tests/global-setup.ts", "tests/browser/build-console.ts"],
    fileParallelism: false,
    maxWorkers: 1,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // A page waits on real services (an argon2 login, an ingest round) on a shared 2-core machine.
    expect: { poll: { timeout: 20_000, interval: 100 } },
  },
});
