/** Two telemetry instances side by side share the ingest consumer without losing a counter update. */
import type { ServiceProcess } from "@trellis/stack/testing";
import { describe, expect, it } from "vitest";
import { HOUR, until, useTelemetryService } from "../test/int-fixture.ts";

const tel = useTelemetryService();

describe("scaling", () => {
  it("two instances side by side share the ingest", async () => {
    const second = await tel.startTelemetry(2);
    try {
      const owner = await tel.registerUser();
      const { id } = await tel.addMonitor(owner.id);
      const base = Date.now() - HOUR;
      await Promise.all(Array.from({ length: 300 }, (_, i) => tel.publishReading(id, { ph: i, timestamp: base + i })));
      expect(await tel.waitForCount(id, 300, 15_000)).toBe(300);
      const wrote = (p: ServiceProcess) => p.logs.some((l) => l.msg === "readings round written");
      expect(wrote(second) && wrote(tel.telemetry)).toBe(true);
      // Both instances updated the same monitor document: no counter update may be lost.
      const monitor = await until(
        () => tel.getMonitor(id),
        (m) => m.readingsStored === 300,
      );
      expect(monitor.readingsStored).toBe(300);
    } finally {
      await second.stop();
    }
  });
});
