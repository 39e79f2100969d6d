import type { Reporter, TestModule } from "vitest/node";

/**
 * Prints one plain closing line after vitest's own summary, e.g. `tests: 55 passed, 0 failed`,
 * for tools that read a run's last line. Counts test cases across every project.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const mod of testModules) {
      let failedHere = 0;
      for (const test of mod.children.allTests()) {
        const state = test.result().state;
        if (state === "passed") passed++;
        else if (state === "failed") failedHere++;
        else skipped++;
      }
      // A file can fail with no failing test (it failed to load, or a hook such as a fixture's
      // afterAll check failed): that is a failure too.
      failed += failedHere || (mod.state() === "failed" ? 1 : 0);
    }
    failed += unhandledErrors.length;
    const tail = skipped ? `, ${skipped} skipped` : "";
    process.stdout.write(`tests: ${passed} passed, ${failed} failed${tail}\n`);
  }
}
