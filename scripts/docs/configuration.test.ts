import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CONFIGURATION_MD, fieldComments, ROOT, renderConfiguration, undescribedVariables } from "./configuration.ts";

describe("docs/configuration.md", () => {
  it("is what `npm run docs:config` generates from the config schemas now", () => {
    const committed = readFileSync(join(ROOT, CONFIGURATION_MD), "utf8");
    expect(committed, `${CONFIGURATION_MD} is stale: run npm run docs:config`).toBe(renderConfiguration());
  });

  it("says what every variable does (a doc comment on each schema field)", () => {
    expect(undescribedVariables()).toEqual([]);
  });

  it("takes a field's doc comment, and a @default tag in place of the schema's default", () => {
    const source = [
      "  /**",
      "   * Where it runs,",
      "   * in two lines.",
      "   * @default `$HOME/x`",
      "   */",
      "  A_PATH: z.string().default(() => home()),",
      "  // not a doc comment",
      "  PLAIN: z.string(),",
      "  /** One line. */ ONE_LINE: env.int(1, 2),",
    ].join("\n");
    const comments = fieldComments(source);
    expect(comments.get("A_PATH")).toEqual({ text: "Where it runs, in two lines.", shownDefault: "`$HOME/x`" });
    expect(comments.get("ONE_LINE")).toEqual({ text: "One line." });
    expect(comments.has("PLAIN")).toBe(false);
  });
});
