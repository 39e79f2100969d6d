import { describe, expect, it } from "vitest";
import { parseMetrics } from "../../../tests/support/metrics.ts";
import { fastCounter, fastHistogram, metricsRegistry } from "./metrics.ts";

describe("fast metrics", () => {
  it("a histogram's series export cumulative buckets, +Inf, sum and count in Prometheus's text format", async () => {
    const h = fastHistogram({
      name: "t_fast_seconds",
      help: "test",
      labelNames: ["route"] as const,
      buckets: [0.1, 1, 10],
    });
    expect(fastHistogram({ name: "t_fast_seconds", help: "again", labelNames: ["route"] as const, buckets: [1] })).toBe(
      h,
    );
    const a = h.with({ route: "/a" });
    for (const v of [0.05, 0.1, 0.5, 5, 50]) a.observe(v);
    h.observe({ route: '/b "quoted"' }, 2);
    const text = await metricsRegistry.getSingleMetricAsString("t_fast_seconds");
    expect(text).toContain("# TYPE t_fast_seconds histogram");
    const m = parseMetrics(text);
    const bucket = (route: string, le: string) => m.value("t_fast_seconds_bucket", { route, le });
    expect([bucket("/a", "0.1"), bucket("/a", "1"), bucket("/a", "10"), bucket("/a", "+Inf")]).toEqual([2, 3, 4, 5]);
    expect(m.value("t_fast_seconds_count", { route: "/a" })).toBe(5);
    expect(m.value("t_fast_seconds_sum", { route: "/a" })).toBeCloseTo(55.65);
    expect(bucket('/b "quoted"', "1")).toBe(0);
    expect(bucket('/b "quoted"', "10")).toBe(1);
  });

  it("a counter's series add up, by labels", async () => {
    const c = fastCounter({ name: "t_fast_total", help: "test", labelNames: ["subject", "code"] as const });
    const ok = c.with({ subject: "s", code: "ok" });
    ok.inc();
    ok.inc(2);
    c.inc({ subject: "s", code: "not_found" });
    c.inc({ subject: "s", code: "ok" });
    const m = parseMetrics(await metricsRegistry.getSingleMetricAsString("t_fast_total"));
    expect(m.families.get("t_fast_total")).toBe("counter");
    expect(m.value("t_fast_total", { subject: "s", code: "ok" })).toBe(4);
    expect(m.value("t_fast_total", { subject: "s", code: "not_found" })).toBe(1);
  });
});
