/**
 * submitReading (what the HTTP APIs call): the same ingest pipeline as a device's own publish, for
 * the monitor itself or an admin, and refused for anyone else.
 */
import { type Principal, telemetryCatalog } from "@trellis/contracts";
import { request } from "@trellis/runtime";
import { describe, expect, it } from "vitest";
import { failure, monitorId, until, useTelemetryService } from "../test/int-fixture.ts";

const tel = useTelemetryService();

describe("ingest", () => {
  it("submitReading feeds the same pipeline (the monitor itself or an admin)", async () => {
    const { nc, admin } = tel;
    const owner = await tel.registerUser();
    const { id, password: pw } = await tel.addMonitor(owner.id);
    const other = await tel.addMonitor(owner.id);
    const device = await tel.monitorPrincipal(id, pw);
    const submit = (actor: Principal, reading: unknown, monitor = id) =>
      request(nc, telemetryCatalog.submitReading, { actor, monitorId: monitor, reading: reading as never });

    const reply = await submit(device, { ph: 6.8, foliage_feed: "x".repeat(100_000) });
    expect(reply).toMatchObject({ stored: true, sequence: expect.any(Number), duplicate: false });
    await submit(admin, { electrical_conductivity: 1.2 });
    expect(await tel.waitForCount(id, 2)).toBe(2);
    const otherDevice = await tel.monitorPrincipal(other.id, other.password);
    expect((await failure(submit(otherDevice, { ph: 1 }))).code).toBe("not_found");
    expect((await failure(submit(owner.principal, { ph: 1 }))).code).toBe("forbidden");
    const invalid = await failure(submit(device, { foo: 1 }));
    expect(invalid.code).toBe("invalid_argument");
    expect((await failure(submit(device, {}))).message).toMatch(/no measurements could be updated/);
    expect((await failure(submit(admin, { ph: 1 }, monitorId()))).code).toBe("not_found");

    const v1 = await until(
      () => tel.v1Get({ actor: admin, monitorId: id }),
      (d) => (d as { electrical_conductivity: { value: number | null } }).electrical_conductivity.value !== null,
    );
    expect(v1).toMatchObject({ ph: { value: 6.8 }, electrical_conductivity: { value: 1.2 } });
    expect((v1 as { foliage_feed: string }).foliage_feed).toHaveLength(100_000);
    const latest = await request(nc, telemetryCatalog.latest, { actor: owner.principal, monitorId: id });
    expect(Object.keys(latest.values).sort()).toEqual(["electrical_conductivity", "ph"]);
    expect(latest.foliage_feed).toHaveLength(100_000);
    expect(latest.root_stream).toBeNull();
  });
});
