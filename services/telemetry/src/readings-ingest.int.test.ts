/**
 * Readings the way devices send them (JetStream publishes on their subject), stored by telemetry's
 * ingest: queryable in order with counters, a retried publish stored once, and what was published
 * while telemetry was stopped stored once it is back.
 */
import { MEASUREMENTS, telemetryCatalog } from "@trellis/contracts";
import { request } from "@trellis/runtime";
import { describe, expect, it } from "vitest";
import { HOUR, until, useTelemetryService } from "../test/int-fixture.ts";

const tel = useTelemetryService();

const fullReading = (base: number) => Object.fromEntries(MEASUREMENTS.map((m, i) => [m, base + i]));

describe("ingest", () => {
  it("stores readings devices publish to JetStream, queryable in order", async () => {
    const { nc } = tel;
    const owner = await tel.registerUser();
    const { id } = await tel.addMonitor(owner.id);
    const t0 = Date.now() - 10_000;
    for (let i = 0; i < 5; i++) await tel.publishReading(id, { ...fullReading(i), timestamp: t0 + i * 1000 });
    expect(await tel.waitForCount(id, 5)).toBe(5);

    const history = await request(nc, telemetryCatalog.history, { actor: owner.principal, monitorId: id, limit: 3 });
    expect(history.items.map((p) => p.at)).toEqual([t0, t0 + 1000, t0 + 2000]);
    expect(history.items[0]?.values.ph).toBe(5);
    expect(history.nextAfter).toBe(t0 + 2000);
    const rest = await request(nc, telemetryCatalog.history, {
      actor: owner.principal,
      monitorId: id,
      after: history.nextAfter ?? 0,
    });
    expect(rest.items.map((p) => p.at)).toEqual([t0 + 3000, t0 + 4000]);
    expect(rest.nextAfter).toBeNull();

    const latest = await until(
      () => request(nc, telemetryCatalog.latest, { actor: owner.principal, monitorId: id }),
      (l) => l.values.ph?.value === 9,
    );
    expect(latest.values.ph).toEqual({ value: 9, at: t0 + 4000 });
    // Counters follow the readings within the same batch write.
    const monitor = await until(
      () => tel.getMonitor(id),
      (m) => m.readingsStored === 5,
    );
    expect(monitor.readingsStored).toBe(5);
    expect(monitor.lastReadingAt).toBe(new Date(t0 + 4000).toISOString());
  });

  it("stores a retried publish (same Nats-Msg-Id) once", async () => {
    const owner = await tel.registerUser();
    const { id } = await tel.addMonitor(owner.id);
    const msgID = `retry-${tel.suffix}-${id}`;
    const first = await tel.publishReading(id, { ph: 6.1 }, msgID);
    const second = await tel.publishReading(id, { ph: 6.1 }, msgID);
    expect(second.duplicate).toBe(true);
    expect(second.seq).toBe(first.seq);
    await tel.publishReading(id, { ph: 6.2 }); // a later reading: once it is stored, the first has been handled
    expect(await tel.waitForCount(id, 2)).toBe(2);
    await new Promise((r) => setTimeout(r, 200));
    expect(await tel.storedCount(id)).toBe(2);
  });

  it("stores every reading published while telemetry was stopped once it is back", async () => {
    const owner = await tel.registerUser();
    const { id } = await tel.addMonitor(owner.id);
    // A graceful stop: the ingest finishes its batch before MongoDB closes, then NATS drains.
    expect(await tel.telemetry.stop()).toBe(143);
    expect(tel.telemetry.logs.some((l) => l.msg === "shutdown complete")).toBe(true);
    const base = Date.now() - HOUR;
    for (let i = 0; i < 50; i++) await tel.publishReading(id, { air_flow: i, timestamp: base + i });
    await tel.startTelemetry();
    expect(await tel.waitForCount(id, 50, 15_000)).toBe(50);
    const monitor = await until(
      () => tel.getMonitor(id),
      (m) => m.readingsStored === 50,
    );
    expect(monitor.readingsStored).toBe(50);
  });
});
