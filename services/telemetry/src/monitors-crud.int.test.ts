/**
 * Monitors through telemetry's catalog: adding one for a user (with its credentials kept by auth),
 * who may see and list which, and reset and delete (readings, rollups, credentials, the event).
 */
import { authCatalog, type Principal, telemetryCatalog, telemetryEvents } from "@trellis/contracts";
import { decodeJson, request } from "@trellis/runtime";
import { describe, expect, it } from "vitest";
import { client, failure, monitorId, password, until, useTelemetryService } from "../test/int-fixture.ts";

const tel = useTelemetryService();

describe("monitors", () => {
  it("adds a monitor for a user (admin only); conflict, unknown owner and non-admins refused", async () => {
    const { nc, admin } = tel;
    const owner = await tel.registerUser();
    const id = monitorId();
    const pw = password();
    const added = await request(nc, telemetryCatalog.addMonitor, {
      actor: admin,
      monitorId: id,
      ownerId: owner.id,
      password: pw,
    });
    expect(added).toMatchObject({ id, ownerId: owner.id, lastReadingAt: null, readingsStored: 0, readingsRejected: 0 });
    // The monitor can log in with its credentials, kept by auth.
    expect((await tel.monitorPrincipal(id, pw)).kind).toBe("monitor");

    const again = { actor: admin, monitorId: id.toUpperCase(), ownerId: owner.id, password: password() };
    expect((await failure(request(nc, telemetryCatalog.addMonitor, again))).code).toBe("conflict");
    const unknownOwner = { actor: admin, monitorId: monitorId(), ownerId: crypto.randomUUID(), password: password() };
    // An unknown owner is not_found (v2 answers the 404 its contract documents; the v1 layer keeps
    // seed 002's 400 for monitors/add).
    expect((await failure(request(nc, telemetryCatalog.addMonitor, unknownOwner))).code).toBe("not_found");
    const byUser = { actor: owner.principal, monitorId: monitorId(), ownerId: owner.id, password: password() };
    expect((await failure(request(nc, telemetryCatalog.addMonitor, byUser))).code).toBe("forbidden");
    // A refused add leaves no monitor behind.
    const list = await request(nc, telemetryCatalog.listMonitors, { actor: admin, ownerId: owner.id });
    expect(list.items.map((m) => m.id)).toEqual([id]);
  });

  it("shows a monitor to its owner and admins only, without revealing unknown ids to users", async () => {
    const { nc, admin } = tel;
    const owner = await tel.registerUser();
    const other = await tel.registerUser();
    const { id } = await tel.addMonitor(owner.id);
    const get = (actor: Principal, monitor = id) =>
      request(nc, telemetryCatalog.getMonitor, { actor, monitorId: monitor });
    expect((await get(owner.principal)).id).toBe(id);
    expect((await get(admin)).ownerId).toBe(owner.id);
    // Another user's monitor and an unknown id answer alike: not_found (v2's rule; v1 keeps 403,
    // tests/telemetry-http.int.test.ts).
    expect((await failure(get(other.principal))).code).toBe("not_found");
    expect((await failure(get(owner.principal, monitorId()))).code).toBe("not_found");
    expect((await failure(get(admin, monitorId()))).code).toBe("not_found");

    const mine = await request(nc, telemetryCatalog.listMonitors, { actor: owner.principal });
    expect(mine.items.map((m) => m.id)).toEqual([id]);
    const theirs = request(nc, telemetryCatalog.listMonitors, { actor: other.principal, ownerId: owner.id });
    expect((await failure(theirs)).code).toBe("forbidden");
    const all = await request(nc, telemetryCatalog.listMonitors, { actor: admin });
    expect(all.items.map((m) => m.id)).toContain(id);
  });
});

describe("reset and delete", () => {
  it("reset removes readings and rollups and keeps the monitor; delete removes it and its credentials", async () => {
    const { nc, admin, db } = tel;
    const owner = await tel.registerUser();
    const { id, password: pw } = await tel.addMonitor(owner.id);
    await tel.publishReading(id, { ph: 7, timestamp: Date.now() - 5_000 });
    await tel.waitForCount(id, 1);
    await until(
      () => tel.getMonitor(id),
      (m) => m.readingsStored === 1,
    );

    const byUser = request(nc, telemetryCatalog.resetMonitor, { actor: owner.principal, monitorId: id });
    expect((await failure(byUser)).code).toBe("forbidden");
    await request(nc, telemetryCatalog.resetMonitor, { actor: admin, monitorId: id });
    expect(await tel.storedCount(id)).toBe(0);
    expect(await db.collection("rollups").countDocuments({ monitorId: id })).toBe(0);
    const reset = await tel.getMonitor(id);
    expect(reset).toMatchObject({ readingsStored: 0, lastReadingAt: null });
    const v1 = (await tel.v1Get({ actor: admin, monitorId: id })) as Record<string, unknown>;
    expect(v1.ph).toEqual({ value: null, history: {} });
    const unknownReset = request(nc, telemetryCatalog.resetMonitor, { actor: admin, monitorId: monitorId() });
    expect((await failure(unknownReset)).code).toBe("not_found");

    await tel.publishReading(id, { ph: 8 });
    await tel.waitForCount(id, 1);
    const deleted: string[] = [];
    const sub = nc.subscribe(telemetryEvents.monitorDeleted.subject, {
      callback: (_e, msg) =>
        void deleted.push(telemetryEvents.monitorDeleted.schema.parse(decodeJson(msg.data)).monitorId),
    });
    await nc.flush();
    await request(nc, telemetryCatalog.deleteMonitor, { actor: admin, monitorId: id });
    expect((await failure(tel.getMonitor(id))).code).toBe("not_found");
    expect(await tel.storedCount(id)).toBe(0);
    expect(await db.collection("rollups").countDocuments({ monitorId: id })).toBe(0);
    const login = request(nc, authCatalog.v1LoginMonitor, { monitorId: id, password: pw, client });
    expect((await failure(login)).code).toBe("unauthenticated");
    await until(
      async () => deleted,
      (d) => d.includes(id),
    );
    expect(deleted).toContain(id);
    sub.unsubscribe();
    const again = request(nc, telemetryCatalog.deleteMonitor, { actor: admin, monitorId: id });
    expect((await failure(again)).code).toBe("not_found");
  });
});
