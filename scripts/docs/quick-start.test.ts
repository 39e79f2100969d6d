import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "./links.ts";

/** The commands of the README's first code block under "Quick start". */
function quickStartCommands(readme: string): string[] {
  const section = readme.split(/^## /m).find((s) => s.startsWith("Quick start")) ?? "";
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? "";
  return block
    .split("\n")
    .map((l) => l.replace(/#.*$/, "").trim())
    .filter(Boolean);
}

describe("the README's quick start", () => {
  it("is `npm ci` then `npm start`, and `npm ci` then the test command CI's .ci/run ends with", () => {
    const ci = readFileSync(join(ROOT, ".ci/run"), "utf8")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "" && !l.startsWith("#"));
    const testCommand = ci.at(-1);
    expect(ci.some((l) => l.startsWith("npm ci "))).toBe(true);
    const commands = quickStartCommands(readFileSync(join(ROOT, "README.md"), "utf8"));
    expect(commands).toEqual(["npm ci && npm start", `npm ci && ${testCommand}`]);
  });
});
