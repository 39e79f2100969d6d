/** Series: per-minute and per-hour aggregates of a measurement, read from the rollups ingest writes. */
import { telemetryCatalog } from "@trellis/contracts";
import { request } from "@trellis/runtime";
import { describe, expect, it } from "vitest";
import { failure, HOUR, MINUTE, until, useTelemetryService } from "../test/int-fixture.ts";

const tel = useTelemetryService();

describe("series", () => {
  it("aggregates avg/min/max/count per minute and per hour from rollups", async () => {
    const { nc } = tel;
    const owner = await tel.registerUser();
    const { id } = await tel.addMonitor(owner.id);
    const h = Math.floor(Date.now() / HOUR) * HOUR - 3 * HOUR;
    const points: [number, number][] = [
      [h + 5_000, 1],
      [h + 30_000, 3],
      [h + MINUTE + 1, 5],
      [h + HOUR + 2 * MINUTE, 10],
      [h + HOUR + 2 * MINUTE + 59_999, 20],
    ];
    for (const [timestamp, ph] of points) await tel.publishReading(id, { ph, timestamp });
    await tel.waitForCount(id, points.length);
    const series = (interval: string) =>
      request(nc, telemetryCatalog.series, {
        actor: owner.principal,
        monitorId: id,
        measurement: "ph",
        from: h,
        to: h + 2 * HOUR,
        interval,
      });
    const perMinute = await until(
      () => series("1m"),
      (s) => s.points.reduce((n, p) => n + p.count, 0) === points.length,
    );
    expect(perMinute.points).toEqual([
      { start: h, count: 2, avg: 2, min: 1, max: 3 },
      { start: h + MINUTE, count: 1, avg: 5, min: 5, max: 5 },
      { start: h + HOUR + 2 * MINUTE, count: 2, avg: 15, min: 10, max: 20 },
    ]);
    expect((await series("1h")).points).toEqual([
      { start: h, count: 3, avg: 3, min: 1, max: 5 },
      { start: h + HOUR, count: 2, avg: 15, min: 10, max: 20 },
    ]);
    const none = await request(nc, telemetryCatalog.series, {
      actor: owner.principal,
      monitorId: id,
      measurement: "air_flow",
      from: h,
      to: h + HOUR,
      interval: "1m",
    });
    expect(none.points).toEqual([]);
    const tooMany = request(nc, telemetryCatalog.series, {
      actor: owner.principal,
      monitorId: id,
      measurement: "ph",
      from: 0,
      to: 20_000 * MINUTE,
      interval: "1m",
    });
    expect((await failure(tooMany)).code).toBe("invalid_argument");
  });
});
