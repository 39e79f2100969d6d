/**
 * The auth service's sessions (over real NATS, FerretDB/MongoDB and Redis, through its catalog):
 * access and refresh tokens, rotation and reuse, logout, the account changes that end sessions
 * (password, deletion) with their events, the sweep of old sessions, and logs free of secrets.
 */
import { randomBytes } from "node:crypto";
import { jetstreamManager } from "@nats-io/jetstream";
import { authCatalog, authEvents, type UserDeleted } from "@trellis/contracts";
import { request } from "@trellis/runtime";
import { eventually } from "@trellis/stack/testing";
import { describe, expect, it } from "vitest";
import {
  encoding,
  failure,
  MONITOR_PASSWORD,
  name,
  password,
  sessionIdOf,
  useAuthService,
  WRONG_PASSWORD,
} from "../test/int-fixture.ts";
import { SessionsStore } from "./store/sessions.ts";

const auth = useAuthService();

describe("sessions", () => {
  it("password grant: an ES256 JWT that verifies against the JWKS, with the session's claims", async () => {
    const user = await auth.registerUser();
    const pair = await request(auth.nc, authCatalog.passwordGrant, { ...user, client: auth.newClient() });
    expect(pair).toMatchObject({ token_type: "bearer", expires_in: 900 });
    expect(pair.refresh_token).toMatch(/^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
    const claims = await auth.verifyAccessToken(pair.access_token);
    expect(claims).toMatchObject({
      sub: user.id,
      sid: sessionIdOf(pair),
      name: user.username,
      role: "user",
      iss: "trellis",
      aud: "trellis",
    });
    const { keys } = await request(auth.nc, authCatalog.jwks, {});
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ kty: "EC", crv: "P-256", alg: "ES256", use: "sig" });
    expect(keys[0]).not.toHaveProperty("d");

    const stored = await auth.db.collection("sessions").findOne({ _id: sessionIdOf(pair) as never });
    expect(stored).toMatchObject({
      kind: "user",
      flavor: "v2",
      userId: user.id,
      revokedAt: null,
      refreshGeneration: 0,
    });
    expect(JSON.stringify(stored)).not.toContain(pair.refresh_token.split(".")[1]);
  });

  it("refresh rotates; reusing a spent refresh token revokes the whole session", async () => {
    const user = await auth.registerUser();
    const first = await request(auth.nc, authCatalog.passwordGrant, { ...user, client: auth.newClient() });
    const second = await request(auth.nc, authCatalog.refreshGrant, {
      refreshToken: first.refresh_token,
      client: auth.newClient(),
    });
    expect(sessionIdOf(second)).toBe(sessionIdOf(first));
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect((await auth.verifyAccessToken(second.access_token)).sid).toBe(sessionIdOf(first));

    const reuse = await failure(
      request(auth.nc, authCatalog.refreshGrant, { refreshToken: first.refresh_token, client: auth.newClient() }),
    );
    expect(reuse.code).toBe("unauthenticated");
    const event = await eventually(() => auth.revokedEvents.find((e) => e.sessionIds.includes(sessionIdOf(first))));
    expect(event.reason).toBe("refresh_reuse");
    // The thief's use killed the legitimate holder's token too.
    expect(
      (
        await failure(
          request(auth.nc, authCatalog.refreshGrant, { refreshToken: second.refresh_token, client: auth.newClient() }),
        )
      ).code,
    ).toBe("unauthenticated");
    const { sessionIds } = await request(auth.nc, authCatalog.revokedSince, { since: Date.now() - 60_000 });
    expect(sessionIds).toContain(sessionIdOf(first));
    for (const bad of ["nonsense", `${sessionIdOf(first)}.short`, `${"A".repeat(22)}.${"B".repeat(43)}`]) {
      expect(
        (await failure(request(auth.nc, authCatalog.refreshGrant, { refreshToken: bad, client: auth.newClient() })))
          .code,
      ).toBe("unauthenticated");
    }
  });

  it("logout ends the session once, with one event", async () => {
    const user = await auth.registerUser();
    const pair = await request(auth.nc, authCatalog.passwordGrant, { ...user, client: auth.newClient() });
    const sid = sessionIdOf(pair);
    const since = Date.now() - 1;
    await request(auth.nc, authCatalog.logout, { sessionId: sid });
    await request(auth.nc, authCatalog.logout, { sessionId: sid });
    await eventually(() => auth.revokedEvents.find((e) => e.sessionIds.includes(sid) && e.reason === "logout"));
    await new Promise((r) => setTimeout(r, 100));
    expect(auth.revokedEvents.filter((e) => e.sessionIds.includes(sid))).toHaveLength(1);
    expect((await request(auth.nc, authCatalog.revokedSince, { since })).sessionIds).toContain(sid);
    expect(
      (
        await failure(
          request(auth.nc, authCatalog.refreshGrant, { refreshToken: pair.refresh_token, client: auth.newClient() }),
        )
      ).code,
    ).toBe("unauthenticated");
  });
});

describe("account changes end sessions", () => {
  it("setPassword: the old password unless admin; then every session of the user ends", async () => {
    const user = await auth.registerUser();
    const other = await auth.registerUser();
    const actor = await auth.principalOf(user);
    const v1 = await request(auth.nc, authCatalog.v1LoginUser, { ...user, persist: true, client: auth.newClient() });
    const v2 = await request(auth.nc, authCatalog.passwordGrant, { ...user, client: auth.newClient() });
    const newPassword = password();

    const missing = await failure(request(auth.nc, authCatalog.setPassword, { actor, userId: user.id, newPassword }));
    expect(missing).toMatchObject({ code: "invalid_argument", message: "old password is incorrect" });
    const wrong = await failure(
      request(auth.nc, authCatalog.setPassword, { actor, userId: user.id, oldPassword: WRONG_PASSWORD, newPassword }),
    );
    expect(wrong).toMatchObject({ code: "invalid_argument", message: "old password is incorrect" });
    expect(
      (await failure(request(auth.nc, authCatalog.setPassword, { actor, userId: other.id, newPassword }))).code,
    ).toBe("forbidden");
    const weak = await failure(
      request(auth.nc, authCatalog.setPassword, {
        actor,
        userId: user.id,
        oldPassword: user.password,
        newPassword: "qwertyuiop",
      }),
    );
    expect(weak.code).toBe("invalid_argument");

    await request(auth.nc, authCatalog.setPassword, {
      actor,
      userId: user.id,
      oldPassword: user.password,
      newPassword,
    });
    const event = await eventually(() =>
      auth.revokedEvents.find((e) => e.reason === "password_reset" && e.sessionIds.includes(sessionIdOf(v2))),
    );
    expect(event.sessionIds).toContain(actor.sessionId);
    expect((await failure(request(auth.nc, authCatalog.v1Resolve, { token: v1.token }))).code).toBe("unauthenticated");
    expect(
      (
        await failure(
          request(auth.nc, authCatalog.refreshGrant, { refreshToken: v2.refresh_token, client: auth.newClient() }),
        )
      ).code,
    ).toBe("unauthenticated");
    expect(
      (await failure(request(auth.nc, authCatalog.passwordGrant, { ...user, client: auth.newClient() }))).code,
    ).toBe("unauthenticated");
    await request(auth.nc, authCatalog.passwordGrant, {
      username: user.username,
      password: newPassword,
      client: auth.newClient(),
    });

    // An admin needs no old password.
    await request(auth.nc, authCatalog.setPassword, { actor: auth.admin, userId: other.id, newPassword });
    await request(auth.nc, authCatalog.passwordGrant, {
      username: other.username,
      password: newPassword,
      client: auth.newClient(),
    });
  });

  it("deleteUser: self or admin; removes the account, ends its sessions and publishes user_deleted", async () => {
    const user = await auth.registerUser();
    const other = await auth.registerUser();
    const email = `${name("gone")}@example.org`;
    const doomedAccount = { username: name("doomed"), password: password() };
    const doomed = await request(auth.nc, authCatalog.register, { ...doomedAccount, email });
    const doomedPair = await request(auth.nc, authCatalog.passwordGrant, {
      ...doomedAccount,
      client: auth.newClient(),
    });
    expect(await auth.db.collection("login_log").countDocuments({ userId: doomed.id })).toBe(1);
    await request(auth.nc, authCatalog.setFaceEncoding, { actor: auth.admin, userId: doomed.id, encoding });
    const monitorId = randomBytes(16).toString("hex");
    await request(auth.nc, authCatalog.setMonitorCredentials, {
      actor: auth.admin,
      monitorId,
      ownerId: doomed.id,
      password: MONITOR_PASSWORD,
    });
    const monitorToken = (
      await request(auth.nc, authCatalog.v1LoginMonitor, {
        monitorId,
        password: MONITOR_PASSWORD,
        client: auth.newClient(),
      })
    ).token;

    const asUser = await auth.principalOf(user);
    expect((await failure(request(auth.nc, authCatalog.deleteUser, { actor: asUser, userId: other.id }))).code).toBe(
      "forbidden",
    );
    expect(
      (
        await failure(
          request(auth.nc, authCatalog.deleteUser, {
            actor: auth.admin,
            userId: "00000000-0000-4000-8000-000000000000",
          }),
        )
      ).code,
    ).toBe("not_found");

    // Self-deletion.
    const v1 = await request(auth.nc, authCatalog.v1LoginUser, { ...user, persist: true, client: auth.newClient() });
    await request(auth.nc, authCatalog.deleteUser, { actor: asUser, userId: user.id });
    expect(await eventually(() => auth.deletedEvents.find((e) => e.userId === user.id))).toMatchObject({
      userId: user.id,
    });
    expect((await failure(request(auth.nc, authCatalog.v1Resolve, { token: v1.token }))).code).toBe("unauthenticated");
    expect((await failure(request(auth.nc, authCatalog.getUser, { actor: auth.admin, userId: user.id }))).code).toBe(
      "not_found",
    );
    expect(
      (await failure(request(auth.nc, authCatalog.passwordGrant, { ...user, client: auth.newClient() }))).code,
    ).toBe("unauthenticated");

    // By an admin: email claim, monitor credentials and their sessions go too.
    await request(auth.nc, authCatalog.deleteUser, { actor: auth.admin, userId: doomed.id });
    await eventually(() => auth.deletedEvents.find((e) => e.userId === doomed.id));
    expect((await failure(request(auth.nc, authCatalog.v1Resolve, { token: monitorToken }))).code).toBe(
      "unauthenticated",
    );
    expect(
      (
        await failure(
          request(auth.nc, authCatalog.refreshGrant, {
            refreshToken: doomedPair.refresh_token,
            client: auth.newClient(),
          }),
        )
      ).code,
    ).toBe("unauthenticated");
    expect(
      auth.revokedEvents.some((e) => e.reason === "user_deleted" && e.sessionIds.includes(sessionIdOf(doomedPair))),
    ).toBe(true);
    expect(await auth.db.collection("monitor_credentials").countDocuments({ _id: monitorId as never })).toBe(0);
    expect(await auth.db.collection("login_log").countDocuments({ userId: doomed.id })).toBe(0);
    await request(auth.nc, authCatalog.register, { username: name("reuse"), password: password(), email });

    // The event is durable: JetStream stored it once, under its message id.
    const jsm = await jetstreamManager(auth.nc);
    const stored = await jsm.streams.getMessage("AUTH_EVENTS", { last_by_subj: authEvents.userDeleted.subject });
    expect(stored?.json<UserDeleted>().userId).toBe(doomed.id);
    expect(stored?.header?.get("Nats-Msg-Id")).toBe(`user-deleted:${doomed.id}`);
  });
});

describe("session sweep", () => {
  it("deletes sessions expired or revoked more than a day ago, and nothing else", async () => {
    const store = new SessionsStore(auth.db);
    const day = 86_400_000;
    const ago = (ms: number) => new Date(Date.now() - ms);
    const base = {
      kind: "user",
      flavor: "v1",
      userId: "00000000-0000-4000-8000-000000000000",
      createdAt: ago(3 * day),
    } as const;
    const docs = {
      oldExpired: { expiresAt: ago(day + 60_000), revokedAt: null },
      oldRevoked: { expiresAt: null, revokedAt: ago(day + 60_000) },
      recentlyExpired: { expiresAt: ago(60_000), revokedAt: null },
      recentlyRevoked: { expiresAt: null, revokedAt: ago(60_000) },
      persisted: { expiresAt: null, revokedAt: null },
    };
    const ids = Object.fromEntries(Object.keys(docs).map((k) => [k, `sweep-${k}-${randomBytes(8).toString("hex")}`]));
    for (const [k, v] of Object.entries(docs)) {
      await store.insert({ ...base, ...v, _id: ids[k] as string, tokenHash: randomBytes(32).toString("hex") });
    }
    expect(await store.sweep(ago(day))).toBeGreaterThanOrEqual(2);
    const left = await auth.db
      .collection("sessions")
      .find({ _id: { $in: Object.values(ids) as never[] } })
      .toArray();
    expect(left.map((d) => d._id).sort()).toEqual([ids.persisted, ids.recentlyExpired, ids.recentlyRevoked].sort());
  });
});

describe("logs", () => {
  // Every file's auth logs get the same check when it stops (int-fixture.ts); this one is reported by name.
  it("never carry a password, a token or a hash", () => {
    const output = auth.proc.output();
    expect(output).toContain("request handled");
    expect(auth.secretsIn(output)).toEqual([]);
  });
});
