/**
 * The auth service's compatibility API of seed 002 (over real NATS, FerretDB/MongoDB and Redis, through
 * its catalog): 32-hex user tokens, their expiry, owners, and monitor credentials with monitor tokens.
 */
import { createHash, randomBytes } from "node:crypto";
import { authCatalog, type Principal, V1Owner } from "@trellis/contracts";
import { readAll, request, requestStream } from "@trellis/runtime";
import { eventually } from "@trellis/stack/testing";
import { describe, expect, it } from "vitest";
import { failure, MONITOR_PASSWORD, useAuthService, WRONG_PASSWORD } from "../test/int-fixture.ts";

const auth = useAuthService();

describe("compatibility API (seed 002)", () => {
  it("logs in, resolves, verifies and logs out a 32-hex token", async () => {
    const user = await auth.registerUser();
    const login = await request(auth.nc, authCatalog.v1LoginUser, {
      username: user.username.toUpperCase(),
      password: user.password,
      client: auth.newClient(),
    });
    expect(login).toMatchObject({ username: user.username, user_id: user.id });
    expect(login.token).toMatch(/^[0-9a-f]{32}$/);
    const before = Date.now();
    const { principal, expiresAt } = await request(auth.nc, authCatalog.v1Resolve, { token: login.token });
    expect(principal).toMatchObject({ kind: "user", userId: user.id, username: user.username, role: "user" });
    expect(expiresAt).toBeGreaterThan(before + 4 * 3_600_000 - 60_000);
    expect(expiresAt).toBeLessThanOrEqual(before + 4 * 3_600_000 + 1_000);
    const stored = await auth.db.collection("sessions").findOne({ _id: principal.sessionId as never });
    expect(stored?.tokenHash).toBe(createHash("sha256").update(login.token).digest("hex"));

    expect(await request(auth.nc, authCatalog.v1Verify, { kind: "user", id: user.id, token: login.token })).toEqual({
      valid: true,
    });
    const other = "00000000-0000-4000-8000-000000000000";
    expect(await request(auth.nc, authCatalog.v1Verify, { kind: "user", id: other, token: login.token })).toEqual({
      valid: false,
    });
    expect(await request(auth.nc, authCatalog.v1Verify, { kind: "monitor", id: user.id, token: login.token })).toEqual({
      valid: false,
    });
    expect(await request(auth.nc, authCatalog.v1Verify, { kind: "user", id: user.id, token: "not-a-token" })).toEqual({
      valid: false,
    });

    expect(
      (await failure(request(auth.nc, authCatalog.v1Logout, { kind: "user", id: other, token: login.token }))).code,
    ).toBe("unauthenticated");
    await request(auth.nc, authCatalog.v1Logout, { kind: "user", id: user.id, token: login.token });
    await eventually(() =>
      auth.revokedEvents.find((e) => e.sessionIds.includes(principal.sessionId) && e.reason === "logout"),
    );
    expect((await failure(request(auth.nc, authCatalog.v1Resolve, { token: login.token }))).code).toBe(
      "unauthenticated",
    );
    expect(await request(auth.nc, authCatalog.v1Verify, { kind: "user", id: user.id, token: login.token })).toEqual({
      valid: false,
    });
    expect(
      (await failure(request(auth.nc, authCatalog.v1Logout, { kind: "user", id: user.id, token: login.token }))).code,
    ).toBe("unauthenticated");
    expect((await failure(request(auth.nc, authCatalog.v1Resolve, { token: "0".repeat(32) }))).code).toBe(
      "unauthenticated",
    );
  });

  it("expires a token after 4 hours, but not a persisted one", async () => {
    const user = await auth.registerUser();
    const short = await request(auth.nc, authCatalog.v1LoginUser, { ...user, client: auth.newClient() });
    const persisted = await request(auth.nc, authCatalog.v1LoginUser, {
      ...user,
      persist: true,
      client: auth.newClient(),
    });
    expect((await request(auth.nc, authCatalog.v1Resolve, { token: persisted.token })).expiresAt).toBeNull();

    const hash = (t: string) => createHash("sha256").update(t).digest("hex");
    const past = new Date(Date.now() - 1_000);
    expect(
      (await auth.db.collection("sessions").updateOne({ tokenHash: hash(short.token) }, { $set: { expiresAt: past } }))
        .modifiedCount,
    ).toBe(1);
    expect((await failure(request(auth.nc, authCatalog.v1Resolve, { token: short.token }))).code).toBe(
      "unauthenticated",
    );
    expect(await request(auth.nc, authCatalog.v1Verify, { kind: "user", id: user.id, token: short.token })).toEqual({
      valid: false,
    });
    expect((await request(auth.nc, authCatalog.v1Resolve, { token: persisted.token })).principal).toMatchObject({
      userId: user.id,
    });
  });

  it("owners: self or admin for one user, admin for all; monitors never", async () => {
    const alice = await auth.registerUser("alice");
    const bob = await auth.registerUser("bob");
    const monitorId = randomBytes(16).toString("hex");
    await request(auth.nc, authCatalog.setMonitorCredentials, {
      actor: auth.admin,
      monitorId,
      ownerId: alice.id,
      password: MONITOR_PASSWORD,
    });
    const asAlice = await auth.principalOf(alice);

    expect(await request(auth.nc, authCatalog.v1Owners, { actor: asAlice, userId: alice.id })).toEqual({
      [alice.id]: { username: alice.username, type: "user", monitor_ids: [monitorId] },
    });
    expect((await failure(request(auth.nc, authCatalog.v1Owners, { actor: asAlice, userId: bob.id }))).code).toBe(
      "forbidden",
    );
    const allOwners = async (actor: Principal) =>
      JSON.parse((await readAll((await requestStream(auth.nc, authCatalog.v1OwnersAll, { actor })).chunks)).toString());
    expect((await failure(allOwners(asAlice))).code).toBe("forbidden");
    const ghost = await failure(
      request(auth.nc, authCatalog.v1Owners, { actor: auth.admin, userId: "00000000-0000-4000-8000-000000000000" }),
    );
    expect(ghost.code).toBe("invalid_argument");
    const all = await allOwners(auth.admin);
    expect(Object.values(all).every((o) => V1Owner.safeParse(o).success)).toBe(true);
    expect(all[bob.id]).toEqual({ username: bob.username, type: "user", monitor_ids: [] });
    expect(all[auth.admin.kind === "user" ? auth.admin.userId : ""]).toMatchObject({ type: "admin" });

    const { token } = await request(auth.nc, authCatalog.v1LoginMonitor, {
      monitorId,
      password: MONITOR_PASSWORD,
      client: auth.newClient(),
    });
    const asMonitor = (await request(auth.nc, authCatalog.v1Resolve, { token })).principal;
    expect((await failure(request(auth.nc, authCatalog.v1Owners, { actor: asMonitor, userId: alice.id }))).code).toBe(
      "forbidden",
    );
    expect((await failure(request(auth.nc, authCatalog.getUser, { actor: asMonitor, userId: alice.id }))).code).toBe(
      "forbidden",
    );
  });
});

describe("monitor credentials", () => {
  it("admin sets them once for an existing owner; the monitor logs in over v1; deletion ends its sessions", async () => {
    const owner = await auth.registerUser();
    const asOwner = await auth.principalOf(owner);
    const monitorId = randomBytes(16).toString("hex").toUpperCase();
    const pw = MONITOR_PASSWORD;

    expect(
      (
        await failure(
          request(auth.nc, authCatalog.setMonitorCredentials, {
            actor: asOwner,
            monitorId,
            ownerId: owner.id,
            password: pw,
          }),
        )
      ).code,
    ).toBe("forbidden");
    const ghostOwner = await failure(
      request(auth.nc, authCatalog.setMonitorCredentials, {
        actor: auth.admin,
        monitorId,
        ownerId: "00000000-0000-4000-8000-000000000000",
        password: pw,
      }),
    );
    expect(ghostOwner).toMatchObject({ code: "not_found", message: "user_id does not exist" });
    const weak = await failure(
      request(auth.nc, authCatalog.setMonitorCredentials, {
        actor: auth.admin,
        monitorId,
        ownerId: owner.id,
        password: "12345678",
      }),
    );
    expect(weak.code).toBe("invalid_argument");
    await request(auth.nc, authCatalog.setMonitorCredentials, {
      actor: auth.admin,
      monitorId,
      ownerId: owner.id,
      password: pw,
    });
    const again = await failure(
      request(auth.nc, authCatalog.setMonitorCredentials, {
        actor: auth.admin,
        monitorId: monitorId.toLowerCase(),
        ownerId: owner.id,
        password: pw,
      }),
    );
    expect(again.code).toBe("conflict");

    const wrong = await failure(
      request(auth.nc, authCatalog.v1LoginMonitor, { monitorId, password: WRONG_PASSWORD, client: auth.newClient() }),
    );
    const unknown = await failure(
      request(auth.nc, authCatalog.v1LoginMonitor, {
        monitorId: randomBytes(16).toString("hex"),
        password: pw,
        client: auth.newClient(),
      }),
    );
    expect(wrong.toBody()).toEqual(unknown.toBody());
    expect(wrong.code).toBe("unauthenticated");

    const { token } = await request(auth.nc, authCatalog.v1LoginMonitor, {
      monitorId,
      password: pw,
      persist: true,
      client: auth.newClient(),
    });
    const resolved = await request(auth.nc, authCatalog.v1Resolve, { token });
    expect(resolved).toMatchObject({
      principal: { kind: "monitor", monitorId: monitorId.toLowerCase(), ownerId: owner.id },
      expiresAt: null,
    });
    expect(await request(auth.nc, authCatalog.v1Verify, { kind: "monitor", id: monitorId, token })).toEqual({
      valid: true,
    });
    expect(await request(auth.nc, authCatalog.v1Verify, { kind: "user", id: owner.id, token })).toEqual({
      valid: false,
    });

    expect(
      (await failure(request(auth.nc, authCatalog.deleteMonitorCredentials, { actor: asOwner, monitorId }))).code,
    ).toBe("forbidden");
    expect(await request(auth.nc, authCatalog.deleteMonitorCredentials, { actor: auth.admin, monitorId })).toEqual({
      deleted: true,
    });
    const event = await eventually(() =>
      auth.revokedEvents.find((e) => e.sessionIds.includes(resolved.principal.sessionId)),
    );
    expect(event.reason).toBe("monitor_deleted");
    expect((await failure(request(auth.nc, authCatalog.v1Resolve, { token }))).code).toBe("unauthenticated");
    expect(
      (
        await failure(
          request(auth.nc, authCatalog.v1LoginMonitor, { monitorId, password: pw, client: auth.newClient() }),
        )
      ).code,
    ).toBe("unauthenticated");
    expect(await request(auth.nc, authCatalog.deleteMonitorCredentials, { actor: auth.admin, monitorId })).toEqual({
      deleted: false,
    });
  });
});
