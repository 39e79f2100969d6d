/** Seed 002's monitors/get (the v1 API's view of readings) through telemetry's catalog. */
import { MEASUREMENTS, type Principal, type V1MonitorData } from "@trellis/contracts";
import { describe, expect, it } from "vitest";
import { failure, monitorId, until, useTelemetryService } from "../test/int-fixture.ts";

const tel = useTelemetryService();

describe("compatibility monitors/get", () => {
  it("returns the seed 002 shape with ms-keyed history and startTime/endTime filters", async () => {
    const { admin } = tel;
    const owner = await tel.registerUser();
    const other = await tel.registerUser();
    const { id, password: pw } = await tel.addMonitor(owner.id);
    const t0 = 1_700_000_000_000;
    await tel.publishReading(id, { ph: 6, atmospheric_temp: 20, timestamp: t0 });
    await tel.publishReading(id, { ph: 7, timestamp: t0 + 1000 });
    await tel.publishReading(id, { ph: 8, root_stream: "stream", timestamp: t0 + 2000 });
    await tel.waitForCount(id, 3);
    const get = (actor: Principal, extra: Record<string, number | string> = {}) =>
      tel.v1Get({ actor, monitorId: id, ...extra });

    const data = (await until(
      () => get(owner.principal),
      (d) => (d as { root_stream: string | null }).root_stream === "stream",
    )) as Record<string, unknown>;
    expect(Object.keys(data).sort()).toEqual([...MEASUREMENTS, "foliage_feed", "root_stream"].sort());
    expect(data.ph).toEqual({ value: 8, history: { [t0]: 6, [t0 + 1000]: 7, [t0 + 2000]: 8 } });
    expect(data.atmospheric_temp).toEqual({ value: 20, history: { [t0]: 20 } });
    expect(data.air_flow).toEqual({ value: null, history: {} });
    expect(data.foliage_feed).toBeNull();
    expect(data.root_stream).toBe("stream");

    const windowed = (await get(owner.principal, { startTime: t0 + 1000, endTime: t0 + 2000 })) as V1MonitorData;
    expect(windowed.ph?.history).toEqual({ [t0 + 1000]: 7, [t0 + 2000]: 8 });
    // Seconds from older clients work too.
    const inSeconds = (await get(owner.principal, { endTime: (t0 + 1000) / 1000 })) as V1MonitorData;
    expect(inSeconds.ph?.history).toEqual({ [t0]: 6, [t0 + 1000]: 7 });

    expect((await failure(get(other.principal))).code).toBe("forbidden");
    expect((await failure(get(await tel.monitorPrincipal(id, pw)))).code).toBe("forbidden");
    const unknownAsAdmin = tel.v1Get({ actor: admin, monitorId: monitorId() });
    expect((await failure(unknownAsAdmin)).code).toBe("not_found");
    const unknownAsUser = tel.v1Get({ actor: owner.principal, monitorId: monitorId() });
    expect((await failure(unknownAsUser)).code).toBe("forbidden");
    expect((await failure(tel.v1Get({ actor: owner.principal }))).code).toBe("forbidden");

    const all = (await tel.v1Get({ actor: admin })) as Record<string, Record<string, unknown>>;
    expect(all[id]).toMatchObject({ owner: owner.id, ph: { value: 8 }, root_stream: "stream" });
  });
});
