import { startStack } from "@trellis/stack";
import { providedStack } from "@trellis/stack/testing";
import type { TestProject } from "vitest/node";

/**
 * Starts MongoDB-protocol, NATS and Redis servers once for the integration project. Files that run
 * services start a NATS server of their own on top (`useFileStack`); this NATS server serves the
 * files that only need some NATS server (unique subjects) or test the harness itself.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const stack = await startStack({ log });
  project.provide("stack", providedStack(stack));
  return async () => {
    await stack.stop();
  };
}
