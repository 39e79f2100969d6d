import { ConfigError, loadConfig } from "@trellis/runtime";
import { describe, expect, it } from "vitest";
import { analysisConfigSchema } from "./config.ts";

const problems = (env: Record<string, string>): readonly string[] => {
  try {
    loadConfig(analysisConfigSchema, env);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
};

describe("analysis config: the OpenAI-compatible provider", () => {
  it("is off by default and on with a base URL and a model (the key optional)", () => {
    expect(loadConfig(analysisConfigSchema, {}).OPENAI_BASE_URL).toBeUndefined();
    const c = loadConfig(analysisConfigSchema, { OPENAI_BASE_URL: "http://127.0.0.1:11434/v1", OPENAI_MODEL: "m" });
    expect(c).toMatchObject({ OPENAI_MODEL: "m", OPENAI_TIMEOUT_MS: 120_000 });
  });

  it("names what is missing or wrong, and never echoes the key", () => {
    expect(problems({ OPENAI_BASE_URL: "http://127.0.0.1:11434/v1" })).toEqual([
      "OPENAI_MODEL: is required when OPENAI_BASE_URL is set (not set)",
    ]);
    const secret = "sk-very-secret-value";
    const bad = problems({ OPENAI_API_KEY: secret, OPENAI_MODEL: "m" });
    expect(bad).toEqual([expect.stringMatching(/^OPENAI_BASE_URL: is required when OPENAI_MODEL or OPENAI_API_KEY/)]);
    expect(problems({ OPENAI_BASE_URL: "ftp://x", OPENAI_MODEL: "m", OPENAI_API_KEY: secret })).toEqual([
      'OPENAI_BASE_URL: must be a http or https URL (got "ftp://x")',
    ]);
    expect(problems({ OPENAI_BASE_URL: "http://x/v1", OPENAI_MODEL: "m", OPENAI_API_KEY: "" }).join()).not.toContain(
      secret,
    );
  });
});
