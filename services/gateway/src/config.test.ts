import { ConfigError, loadConfig } from "@trellis/runtime";
import { describe, expect, it } from "vitest";
import { gatewayConfigSchema } from "./config.ts";

describe("gateway config", () => {
  it("refuses a METRICS_PORT equal to the public PORT: metrics are never served to the public", () => {
    const run = () => loadConfig(gatewayConfigSchema, { PORT: "8080", METRICS_PORT: "8080" });
    expect(run).toThrow(ConfigError);
    expect(run).toThrow(/METRICS_PORT: must differ from PORT/);
    expect(loadConfig(gatewayConfigSchema, { PORT: "8080", METRICS_PORT: "9460" }).METRICS_PORT).toBe(9460);
    expect(loadConfig(gatewayConfigSchema, { PORT: "0", METRICS_PORT: "0" }).METRICS_PORT).toBe(0);
  });
});
