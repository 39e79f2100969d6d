/**
 * The auth service as a real process over real NATS, FerretDB/MongoDB and Redis, called through its
 * catalog exactly as the gateway calls it.
 */
import { createHash, createPublicKey, randomBytes } from "node:crypto";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import {
  AccessClaims,
  authCatalog,
  authEvents,
  type Principal,
  type SessionsRevoked,
  type TokenPair,
  type TrellisError,
  type UserDeleted,
  V1Owner,
} from "@trellis/contracts";
import { decodeJson, readAll, request, requestStream } from "@trellis/runtime";
import {
  eventually,
  failure as failureOf,
  type ServiceProcess,
  serviceEnvFrom,
  startService,
  uniqueSuffix,
} from "@trellis/stack/testing";
import jwt from "jsonwebtoken";
import { type Db, MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { SessionsStore } from "./store/sessions.ts";

const stack = inject("stack");
const suffix = uniqueSuffix();
const ADMIN = { username: `root-${suffix}`, password: "Correct-Horse-Battery-9" };
const MAX_PER_ACCOUNT = 3;
const MAX_PER_CLIENT = 6;

const envFor = (db: string, instance: string): Record<string, string> => ({
  ...serviceEnvFrom(stack),
  MONGO_DB: db,
  REDIS_KEY_PREFIX: `t:${suffix}:auth:`,
  TRELLIS_ADMIN_USERNAME: ADMIN.username,
  TRELLIS_ADMIN_PASSWORD: ADMIN.password,
  LOGIN_MAX_FAILURES_PER_ACCOUNT: String(MAX_PER_ACCOUNT),
  LOGIN_MAX_FAILURES_PER_CLIENT: String(MAX_PER_CLIENT),
  INSTANCE_ID: instance,
  LOG_LEVEL: "debug",
});

let auth: ServiceProcess;
let nc: NatsConnection;
let mongo: MongoClient;
let db: Db;
let admin: Principal;
const revokedEvents: SessionsRevoked[] = [];
const deletedEvents: UserDeleted[] = [];
const subs: Subscription[] = [];

/** Each test gets its own client address, so per-client failure counts never leak between tests. */
let clientCounter = 0;
const newClient = () => ({ address: `10.${suffix.length}.0.${++clientCounter}` });
const name = (base: string) => `${base}-${randomBytes(3).toString("hex")}`;
const password = () => `Pw-${randomBytes(6).toString("hex")}`;
const encoding = Array.from({ length: 128 }, (_, i) => Math.sin(i) / 4);
const shifted = (by: number) => encoding.map((v, i) => (i === 0 ? v + by : v));

const failure = (promise: Promise<unknown>) => failureOf<TrellisError>(promise);

async function registerUser(base = "user") {
  const account = { username: name(base), password: password() };
  const user = await request(nc, authCatalog.register, account);
  return { ...account, id: user.id };
}

/** Logs in over v1 and resolves the token: a real principal for `actor` fields. */
async function principalOf(account: { username: string; password: string }): Promise<Principal> {
  const { token } = await request(nc, authCatalog.v1LoginUser, { ...account, client: newClient() });
  return (await request(nc, authCatalog.v1Resolve, { token })).principal;
}

async function verifyAccessToken(token: string) {
  const { keys } = await request(nc, authCatalog.jwks, {});
  const header = jwt.decode(token, { complete: true })?.header;
  const jwk = keys.find((k) => k.kid === header?.kid);
  expect(jwk).toBeDefined();
  const key = createPublicKey({ key: jwk as never, format: "jwk" });
  const payload = jwt.verify(token, key, { algorithms: ["ES256"], issuer: "trellis", audience: "trellis" });
  return AccessClaims.loose().parse(payload);
}

const sessionIdOf = (pair: TokenPair) => pair.refresh_token.split(".")[0] as string;

beforeAll(async () => {
  nc = await connect({ servers: stack.natsUrl, user: stack.natsUser, pass: stack.natsPassword });
  for (const [spec, sink] of [
    [authEvents.sessionsRevoked, revokedEvents],
    [authEvents.userDeleted, deletedEvents],
  ] as const) {
    subs.push(
      nc.subscribe(spec.subject, {
        callback: (_err, msg) => void (sink as unknown[]).push(spec.schema.parse(decodeJson(msg.data))),
      }),
    );
  }
  await nc.flush();
  mongo = new MongoClient(stack.mongoUrl);
  await mongo.connect();
  db = mongo.db(`t_auth_${suffix}`);
  auth = await startService("auth", envFor(`t_auth_${suffix}`, `auth-${suffix}-1`));
  const grant = await request(nc, authCatalog.passwordGrant, { ...ADMIN, client: newClient() });
  const claims = await verifyAccessToken(grant.access_token);
  admin = { kind: "user", userId: claims.sub, username: claims.name, role: claims.role, sessionId: claims.sid };
});

afterAll(async () => {
  for (const s of subs) s.unsubscribe();
  await auth?.stop();
  await nc?.close();
  await mongo?.close();
});

describe("users", () => {
  it("bootstraps the configured admin, once", async () => {
    expect(admin.kind === "user" && admin.role).toBe("admin");
    const user = await request(nc, authCatalog.getUserByUsername, {
      actor: admin,
      username: ADMIN.username.toUpperCase(),
    });
    expect(user).toMatchObject({ username: ADMIN.username, role: "admin", email: null, hasFaceEncoding: false });
    expect(await db.collection("users").countDocuments({ usernameLower: ADMIN.username })).toBe(1);
    expect(auth.logs.some((l) => l.msg === "bootstrap admin created")).toBe(true);
    const health = await request(nc, authCatalog.health, {});
    expect(health.dependencies).toMatchObject({ mongo: { ok: true }, redis: { ok: true }, nats: { ok: true } });
  });

  it("registers users; a username taken in any case or an email taken is a conflict", async () => {
    const username = name("Fern");
    const email = `${username}@example.org`;
    const created = await request(nc, authCatalog.register, {
      username,
      password: password(),
      email: email.toUpperCase(),
    });
    expect(created).toMatchObject({ username, email: email.toLowerCase(), role: "user", hasFaceEncoding: false });
    expect(created.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(Object.keys(created).sort()).toEqual(["createdAt", "email", "hasFaceEncoding", "id", "role", "username"]);

    const sameName = await failure(
      request(nc, authCatalog.register, {
        username: username.toUpperCase(),
        password: password(),
        email: `x-${email}`,
      }),
    );
    expect(sameName).toMatchObject({ code: "conflict", message: "username is taken" });
    const sameEmail = await failure(
      request(nc, authCatalog.register, { username: name("other"), password: password(), email }),
    );
    expect(sameEmail).toMatchObject({ code: "conflict", message: "email is already registered" });
    // The email claimed by the refused registration (taken username) was released.
    await request(nc, authCatalog.register, { username: name("third"), password: password(), email: `x-${email}` });

    const stored = await db.collection("users").findOne({ _id: created.id as never });
    expect(stored?.passwordHash).toMatch(/^\$argon2id\$v=19\$m=19456,p=1,t=2\$/);
  });

  it("applies the password policy and the registration rules", async () => {
    const username = name("policy");
    for (const [pw, reason] of [
      ["Ab1-xyz", /at least 8/],
      ["password1", /too common/],
      [username.toUpperCase(), /username/],
    ] as const) {
      const err = await failure(request(nc, authCatalog.register, { username, password: pw }));
      expect(err.code).toBe("invalid_argument");
      expect(err.message).toMatch(reason);
    }
    expect(
      (await failure(request(nc, authCatalog.register, { username, password: password(), role: "admin" }))).code,
    ).toBe("forbidden");

    const user = await registerUser();
    const actor = await principalOf(user);
    expect((await failure(request(nc, authCatalog.register, { username, password: password(), actor }))).code).toBe(
      "forbidden",
    );
    const made = await request(nc, authCatalog.register, {
      username,
      password: password(),
      role: "admin",
      actor: admin,
    });
    expect(made.role).toBe("admin");
  });

  it("lets users see themselves and admins see everyone; lists, batches and promotes for admins", async () => {
    const alice = await registerUser("alice");
    const bob = await registerUser("bob");
    const asAlice = await principalOf(alice);

    expect((await request(nc, authCatalog.getUser, { actor: asAlice, userId: alice.id })).username).toBe(
      alice.username,
    );
    expect((await failure(request(nc, authCatalog.getUser, { actor: asAlice, userId: bob.id }))).code).toBe(
      "forbidden",
    );
    const ghost = "00000000-0000-4000-8000-000000000000";
    expect((await failure(request(nc, authCatalog.getUser, { actor: asAlice, userId: ghost }))).code).toBe("forbidden");
    expect((await failure(request(nc, authCatalog.getUser, { actor: admin, userId: ghost }))).code).toBe("not_found");
    expect(
      (await failure(request(nc, authCatalog.getUserByUsername, { actor: asAlice, username: bob.username }))).code,
    ).toBe("forbidden");
    expect(
      (await failure(request(nc, authCatalog.getUserByUsername, { actor: asAlice, username: "nobody-here" }))).code,
    ).toBe("forbidden");
    expect((await failure(request(nc, authCatalog.listUsers, { actor: asAlice }))).code).toBe("forbidden");

    const batch = await request(nc, authCatalog.getUsersBatch, {
      actor: admin,
      ids: [bob.id, ghost, "not-a-uuid", alice.id],
    });
    expect(batch.users.map((u) => u?.username ?? null)).toEqual([bob.username, null, null, alice.username]);

    const seen: string[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 100; pages++) {
      const page = await request(nc, authCatalog.listUsers, { actor: admin, limit: 2, ...(cursor ? { cursor } : {}) });
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((u) => u.id));
      if (page.nextCursor === null) break;
      cursor = page.nextCursor;
    }
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.length).toBe(await db.collection("users").countDocuments());
    expect(seen.indexOf(alice.id)).toBeLessThan(seen.indexOf(bob.id));
    expect((await failure(request(nc, authCatalog.listUsers, { actor: admin, cursor: "garbage!" }))).code).toBe(
      "invalid_argument",
    );

    expect((await failure(request(nc, authCatalog.promote, { actor: asAlice, userId: alice.id }))).code).toBe(
      "forbidden",
    );
    expect((await request(nc, authCatalog.promote, { actor: admin, userId: bob.id })).role).toBe("admin");
    const asBob = await principalOf(bob);
    expect(asBob.kind === "user" && asBob.role).toBe("admin");
  });
});

describe("sessions", () => {
  it("password grant: an ES256 JWT that verifies against the JWKS, with the session's claims", async () => {
    const user = await registerUser();
    const pair = await request(nc, authCatalog.passwordGrant, { ...user, client: newClient() });
    expect(pair).toMatchObject({ token_type: "bearer", expires_in: 900 });
    expect(pair.refresh_token).toMatch(/^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
    const claims = await verifyAccessToken(pair.access_token);
    expect(claims).toMatchObject({
      sub: user.id,
      sid: sessionIdOf(pair),
      name: user.username,
      role: "user",
      iss: "trellis",
      aud: "trellis",
    });
    const { keys } = await request(nc, authCatalog.jwks, {});
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ kty: "EC", crv: "P-256", alg: "ES256", use: "sig" });
    expect(keys[0]).not.toHaveProperty("d");

    const stored = await db.collection("sessions").findOne({ _id: sessionIdOf(pair) as never });
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
    const user = await registerUser();
    const first = await request(nc, authCatalog.passwordGrant, { ...user, client: newClient() });
    const second = await request(nc, authCatalog.refreshGrant, {
      refreshToken: first.refresh_token,
      client: newClient(),
    });
    expect(sessionIdOf(second)).toBe(sessionIdOf(first));
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect((await verifyAccessToken(second.access_token)).sid).toBe(sessionIdOf(first));

    const reuse = await failure(
      request(nc, authCatalog.refreshGrant, { refreshToken: first.refresh_token, client: newClient() }),
    );
    expect(reuse.code).toBe("unauthenticated");
    const event = await eventually(() => revokedEvents.find((e) => e.sessionIds.includes(sessionIdOf(first))));
    expect(event.reason).toBe("refresh_reuse");
    // The thief's use killed the legitimate holder's token too.
    expect(
      (
        await failure(
          request(nc, authCatalog.refreshGrant, { refreshToken: second.refresh_token, client: newClient() }),
        )
      ).code,
    ).toBe("unauthenticated");
    const { sessionIds } = await request(nc, authCatalog.revokedSince, { since: Date.now() - 60_000 });
    expect(sessionIds).toContain(sessionIdOf(first));
    for (const bad of ["nonsense", `${sessionIdOf(first)}.short`, `${"A".repeat(22)}.${"B".repeat(43)}`]) {
      expect(
        (await failure(request(nc, authCatalog.refreshGrant, { refreshToken: bad, client: newClient() }))).code,
      ).toBe("unauthenticated");
    }
  });

  it("logout ends the session once, with one event", async () => {
    const user = await registerUser();
    const pair = await request(nc, authCatalog.passwordGrant, { ...user, client: newClient() });
    const sid = sessionIdOf(pair);
    const since = Date.now() - 1;
    await request(nc, authCatalog.logout, { sessionId: sid });
    await request(nc, authCatalog.logout, { sessionId: sid });
    await eventually(() => revokedEvents.find((e) => e.sessionIds.includes(sid) && e.reason === "logout"));
    await new Promise((r) => setTimeout(r, 100));
    expect(revokedEvents.filter((e) => e.sessionIds.includes(sid))).toHaveLength(1);
    expect((await request(nc, authCatalog.revokedSince, { since })).sessionIds).toContain(sid);
    expect(
      (await failure(request(nc, authCatalog.refreshGrant, { refreshToken: pair.refresh_token, client: newClient() })))
        .code,
    ).toBe("unauthenticated");
  });

  it("answers an unknown user and a wrong password identically", async () => {
    const user = await registerUser();
    const client = newClient();
    const unknown = await failure(
      request(nc, authCatalog.passwordGrant, { username: name("ghost"), password: user.password, client }),
    );
    const wrong = await failure(
      request(nc, authCatalog.passwordGrant, { username: user.username, password: "Wrong-Password-1", client }),
    );
    expect(unknown.toBody()).toEqual(wrong.toBody());
    expect(wrong.toBody()).toEqual({ code: "unauthenticated", message: "invalid credentials", retryable: false });
    const v1Unknown = await failure(
      request(nc, authCatalog.v1LoginUser, { username: name("ghost"), password: "x", client }),
    );
    expect(v1Unknown.toBody()).toEqual(wrong.toBody());
  });

  it("refuses an account after N failures, before checking the password; success clears the count", async () => {
    const user = await registerUser();
    const wrong = { username: user.username, password: "Wrong-Password-1" };
    // Two failures, a success (clears), then N failures.
    for (let i = 0; i < MAX_PER_ACCOUNT - 1; i++)
      await failure(request(nc, authCatalog.passwordGrant, { ...wrong, client: newClient() }));
    await request(nc, authCatalog.passwordGrant, { ...user, client: newClient() });
    for (let i = 0; i < MAX_PER_ACCOUNT; i++) {
      expect((await failure(request(nc, authCatalog.v1LoginUser, { ...wrong, client: newClient() }))).code).toBe(
        "unauthenticated",
      );
    }
    const limited = await failure(request(nc, authCatalog.passwordGrant, { ...user, client: newClient() }));
    expect(limited.code).toBe("rate_limited");
    expect(limited.retryable).toBe(true);
    expect(limited.details?.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(limited.details?.retryAfterSeconds).toBeLessThanOrEqual(900);
    // Face login is under the same account limit.
    const face = await failure(
      request(nc, authCatalog.faceLogin, { username: user.username, encoding, client: newClient() }),
    );
    expect(face.code).toBe("rate_limited");
  });

  it("holds the account limit against a burst of parallel guesses", async () => {
    const user = await registerUser();
    const codes = await Promise.all(
      Array.from({ length: 10 }, async () => {
        const err = await failure(
          request(nc, authCatalog.passwordGrant, {
            username: user.username,
            password: "Wrong-Password-1",
            client: newClient(),
          }),
        );
        return err.code;
      }),
    );
    expect(codes.filter((c) => c === "unauthenticated")).toHaveLength(MAX_PER_ACCOUNT);
    expect(codes.filter((c) => c === "rate_limited")).toHaveLength(10 - MAX_PER_ACCOUNT);
  });

  it("refuses a client address after M failures across accounts", async () => {
    const client = newClient();
    for (let i = 0; i < MAX_PER_CLIENT; i++) {
      await failure(
        request(nc, authCatalog.passwordGrant, { username: name("spray"), password: "Wrong-Password-1", client }),
      );
    }
    const user = await registerUser();
    expect((await failure(request(nc, authCatalog.passwordGrant, { ...user, client }))).code).toBe("rate_limited");
    await request(nc, authCatalog.passwordGrant, { ...user, client: newClient() });
  });
});

describe("compatibility API (seed 002)", () => {
  it("logs in, resolves, verifies and logs out a 32-hex token", async () => {
    const user = await registerUser();
    const login = await request(nc, authCatalog.v1LoginUser, {
      username: user.username.toUpperCase(),
      password: user.password,
      client: newClient(),
    });
    expect(login).toMatchObject({ username: user.username, user_id: user.id });
    expect(login.token).toMatch(/^[0-9a-f]{32}$/);
    const before = Date.now();
    const { principal, expiresAt } = await request(nc, authCatalog.v1Resolve, { token: login.token });
    expect(principal).toMatchObject({ kind: "user", userId: user.id, username: user.username, role: "user" });
    expect(expiresAt).toBeGreaterThan(before + 4 * 3_600_000 - 60_000);
    expect(expiresAt).toBeLessThanOrEqual(before + 4 * 3_600_000 + 1_000);
    const stored = await db.collection("sessions").findOne({ _id: principal.sessionId as never });
    expect(stored?.tokenHash).toBe(createHash("sha256").update(login.token).digest("hex"));

    expect(await request(nc, authCatalog.v1Verify, { kind: "user", id: user.id, token: login.token })).toEqual({
      valid: true,
    });
    const other = "00000000-0000-4000-8000-000000000000";
    expect(await request(nc, authCatalog.v1Verify, { kind: "user", id: other, token: login.token })).toEqual({
      valid: false,
    });
    expect(await request(nc, authCatalog.v1Verify, { kind: "monitor", id: user.id, token: login.token })).toEqual({
      valid: false,
    });
    expect(await request(nc, authCatalog.v1Verify, { kind: "user", id: user.id, token: "not-a-token" })).toEqual({
      valid: false,
    });

    expect(
      (await failure(request(nc, authCatalog.v1Logout, { kind: "user", id: other, token: login.token }))).code,
    ).toBe("unauthenticated");
    await request(nc, authCatalog.v1Logout, { kind: "user", id: user.id, token: login.token });
    await eventually(() =>
      revokedEvents.find((e) => e.sessionIds.includes(principal.sessionId) && e.reason === "logout"),
    );
    expect((await failure(request(nc, authCatalog.v1Resolve, { token: login.token }))).code).toBe("unauthenticated");
    expect(await request(nc, authCatalog.v1Verify, { kind: "user", id: user.id, token: login.token })).toEqual({
      valid: false,
    });
    expect(
      (await failure(request(nc, authCatalog.v1Logout, { kind: "user", id: user.id, token: login.token }))).code,
    ).toBe("unauthenticated");
    expect((await failure(request(nc, authCatalog.v1Resolve, { token: "0".repeat(32) }))).code).toBe("unauthenticated");
  });

  it("expires a token after 4 hours, but not a persisted one", async () => {
    const user = await registerUser();
    const short = await request(nc, authCatalog.v1LoginUser, { ...user, client: newClient() });
    const persisted = await request(nc, authCatalog.v1LoginUser, { ...user, persist: true, client: newClient() });
    expect((await request(nc, authCatalog.v1Resolve, { token: persisted.token })).expiresAt).toBeNull();

    const hash = (t: string) => createHash("sha256").update(t).digest("hex");
    const past = new Date(Date.now() - 1_000);
    expect(
      (await db.collection("sessions").updateOne({ tokenHash: hash(short.token) }, { $set: { expiresAt: past } }))
        .modifiedCount,
    ).toBe(1);
    expect((await failure(request(nc, authCatalog.v1Resolve, { token: short.token }))).code).toBe("unauthenticated");
    expect(await request(nc, authCatalog.v1Verify, { kind: "user", id: user.id, token: short.token })).toEqual({
      valid: false,
    });
    expect((await request(nc, authCatalog.v1Resolve, { token: persisted.token })).principal).toMatchObject({
      userId: user.id,
    });
  });

  it("owners: self or admin for one user, admin for all; monitors never", async () => {
    const alice = await registerUser("alice");
    const bob = await registerUser("bob");
    const monitorId = randomBytes(16).toString("hex");
    await request(nc, authCatalog.setMonitorCredentials, {
      actor: admin,
      monitorId,
      ownerId: alice.id,
      password: "Monitor-Pass-4821",
    });
    const asAlice = await principalOf(alice);

    expect(await request(nc, authCatalog.v1Owners, { actor: asAlice, userId: alice.id })).toEqual({
      [alice.id]: { username: alice.username, type: "user", monitor_ids: [monitorId] },
    });
    expect((await failure(request(nc, authCatalog.v1Owners, { actor: asAlice, userId: bob.id }))).code).toBe(
      "forbidden",
    );
    const allOwners = async (actor: Principal) =>
      JSON.parse((await readAll((await requestStream(nc, authCatalog.v1OwnersAll, { actor })).chunks)).toString());
    expect((await failure(allOwners(asAlice))).code).toBe("forbidden");
    const ghost = await failure(
      request(nc, authCatalog.v1Owners, { actor: admin, userId: "00000000-0000-4000-8000-000000000000" }),
    );
    expect(ghost.code).toBe("invalid_argument");
    const all = await allOwners(admin);
    expect(Object.values(all).every((o) => V1Owner.safeParse(o).success)).toBe(true);
    expect(all[bob.id]).toEqual({ username: bob.username, type: "user", monitor_ids: [] });
    expect(all[admin.kind === "user" ? admin.userId : ""]).toMatchObject({ type: "admin" });

    const { token } = await request(nc, authCatalog.v1LoginMonitor, {
      monitorId,
      password: "Monitor-Pass-4821",
      client: newClient(),
    });
    const asMonitor = (await request(nc, authCatalog.v1Resolve, { token })).principal;
    expect((await failure(request(nc, authCatalog.v1Owners, { actor: asMonitor, userId: alice.id }))).code).toBe(
      "forbidden",
    );
    expect((await failure(request(nc, authCatalog.getUser, { actor: asMonitor, userId: alice.id }))).code).toBe(
      "forbidden",
    );
  });
});

describe("account changes end sessions", () => {
  it("setPassword: the old password unless admin; then every session of the user ends", async () => {
    const user = await registerUser();
    const other = await registerUser();
    const actor = await principalOf(user);
    const v1 = await request(nc, authCatalog.v1LoginUser, { ...user, persist: true, client: newClient() });
    const v2 = await request(nc, authCatalog.passwordGrant, { ...user, client: newClient() });
    const newPassword = password();

    const missing = await failure(request(nc, authCatalog.setPassword, { actor, userId: user.id, newPassword }));
    expect(missing).toMatchObject({ code: "invalid_argument", message: "old password is incorrect" });
    const wrong = await failure(
      request(nc, authCatalog.setPassword, { actor, userId: user.id, oldPassword: "Wrong-Password-1", newPassword }),
    );
    expect(wrong).toMatchObject({ code: "invalid_argument", message: "old password is incorrect" });
    expect((await failure(request(nc, authCatalog.setPassword, { actor, userId: other.id, newPassword }))).code).toBe(
      "forbidden",
    );
    const weak = await failure(
      request(nc, authCatalog.setPassword, {
        actor,
        userId: user.id,
        oldPassword: user.password,
        newPassword: "qwertyuiop",
      }),
    );
    expect(weak.code).toBe("invalid_argument");

    await request(nc, authCatalog.setPassword, { actor, userId: user.id, oldPassword: user.password, newPassword });
    const event = await eventually(() =>
      revokedEvents.find((e) => e.reason === "password_reset" && e.sessionIds.includes(sessionIdOf(v2))),
    );
    expect(event.sessionIds).toContain(actor.sessionId);
    expect((await failure(request(nc, authCatalog.v1Resolve, { token: v1.token }))).code).toBe("unauthenticated");
    expect(
      (await failure(request(nc, authCatalog.refreshGrant, { refreshToken: v2.refresh_token, client: newClient() })))
        .code,
    ).toBe("unauthenticated");
    expect((await failure(request(nc, authCatalog.passwordGrant, { ...user, client: newClient() }))).code).toBe(
      "unauthenticated",
    );
    await request(nc, authCatalog.passwordGrant, {
      username: user.username,
      password: newPassword,
      client: newClient(),
    });

    // An admin needs no old password.
    await request(nc, authCatalog.setPassword, { actor: admin, userId: other.id, newPassword });
    await request(nc, authCatalog.passwordGrant, {
      username: other.username,
      password: newPassword,
      client: newClient(),
    });
  });

  it("deleteUser: self or admin; removes the account, ends its sessions and publishes user_deleted", async () => {
    const user = await registerUser();
    const other = await registerUser();
    const email = `${name("gone")}@example.org`;
    const doomedAccount = { username: name("doomed"), password: password() };
    const doomed = await request(nc, authCatalog.register, { ...doomedAccount, email });
    const doomedPair = await request(nc, authCatalog.passwordGrant, { ...doomedAccount, client: newClient() });
    expect(await db.collection("login_log").countDocuments({ userId: doomed.id })).toBe(1);
    await request(nc, authCatalog.setFaceEncoding, { actor: admin, userId: doomed.id, encoding });
    const monitorId = randomBytes(16).toString("hex");
    await request(nc, authCatalog.setMonitorCredentials, {
      actor: admin,
      monitorId,
      ownerId: doomed.id,
      password: "Monitor-Pass-4821",
    });
    const monitorToken = (
      await request(nc, authCatalog.v1LoginMonitor, { monitorId, password: "Monitor-Pass-4821", client: newClient() })
    ).token;

    const asUser = await principalOf(user);
    expect((await failure(request(nc, authCatalog.deleteUser, { actor: asUser, userId: other.id }))).code).toBe(
      "forbidden",
    );
    expect(
      (
        await failure(
          request(nc, authCatalog.deleteUser, { actor: admin, userId: "00000000-0000-4000-8000-000000000000" }),
        )
      ).code,
    ).toBe("not_found");

    // Self-deletion.
    const v1 = await request(nc, authCatalog.v1LoginUser, { ...user, persist: true, client: newClient() });
    await request(nc, authCatalog.deleteUser, { actor: asUser, userId: user.id });
    expect(await eventually(() => deletedEvents.find((e) => e.userId === user.id))).toMatchObject({ userId: user.id });
    expect((await failure(request(nc, authCatalog.v1Resolve, { token: v1.token }))).code).toBe("unauthenticated");
    expect((await failure(request(nc, authCatalog.getUser, { actor: admin, userId: user.id }))).code).toBe("not_found");
    expect((await failure(request(nc, authCatalog.passwordGrant, { ...user, client: newClient() }))).code).toBe(
      "unauthenticated",
    );

    // By an admin: email claim, monitor credentials and their sessions go too.
    await request(nc, authCatalog.deleteUser, { actor: admin, userId: doomed.id });
    await eventually(() => deletedEvents.find((e) => e.userId === doomed.id));
    expect((await failure(request(nc, authCatalog.v1Resolve, { token: monitorToken }))).code).toBe("unauthenticated");
    expect(
      (
        await failure(
          request(nc, authCatalog.refreshGrant, { refreshToken: doomedPair.refresh_token, client: newClient() }),
        )
      ).code,
    ).toBe("unauthenticated");
    expect(
      revokedEvents.some((e) => e.reason === "user_deleted" && e.sessionIds.includes(sessionIdOf(doomedPair))),
    ).toBe(true);
    expect(await db.collection("monitor_credentials").countDocuments({ _id: monitorId as never })).toBe(0);
    expect(await db.collection("login_log").countDocuments({ userId: doomed.id })).toBe(0);
    await request(nc, authCatalog.register, { username: name("reuse"), password: password(), email });

    // The event is durable: JetStream stored it once, under its message id.
    const jsm = await jetstreamManager(nc);
    const stored = await jsm.streams.getMessage("AUTH_EVENTS", { last_by_subj: authEvents.userDeleted.subject });
    expect(stored?.json<UserDeleted>().userId).toBe(doomed.id);
    expect(stored?.header?.get("Nats-Msg-Id")).toBe(`user-deleted:${doomed.id}`);
  });
});

describe("face encodings", () => {
  it("stores, reads and logs in by face within the tolerance; every attempt is in the login log", async () => {
    const user = await registerUser();
    const actor = await principalOf(user);
    const client = newClient();
    expect((await failure(request(nc, authCatalog.getFaceEncoding, { actor, userId: user.id }))).code).toBe(
      "not_found",
    );
    const none = await failure(request(nc, authCatalog.faceLogin, { username: user.username, encoding, client }));
    expect(none.toBody()).toEqual({ code: "unauthenticated", message: "invalid credentials", retryable: false });

    await request(nc, authCatalog.setFaceEncoding, { actor, userId: user.id, encoding });
    const read = await request(nc, authCatalog.getFaceEncoding, { actor, userId: user.id });
    expect(read.encoding).toEqual(encoding);
    expect(Date.parse(read.updatedAt)).toBeGreaterThan(Date.now() - 60_000);
    expect((await request(nc, authCatalog.getUser, { actor, userId: user.id })).hasFaceEncoding).toBe(true);
    const other = await principalOf(await registerUser());
    expect((await failure(request(nc, authCatalog.getFaceEncoding, { actor: other, userId: user.id }))).code).toBe(
      "forbidden",
    );
    expect(
      (await failure(request(nc, authCatalog.setFaceEncoding, { actor: other, userId: user.id, encoding }))).code,
    ).toBe("forbidden");

    const pair = await request(nc, authCatalog.faceLogin, {
      username: user.username,
      encoding: shifted(0.55),
      pictureId: "pic-ok",
      client,
    });
    expect((await verifyAccessToken(pair.access_token)).sub).toBe(user.id);
    const far = await failure(
      request(nc, authCatalog.faceLogin, {
        username: user.username,
        encoding: shifted(0.65),
        pictureId: "pic-far",
        client,
      }),
    );
    expect(far.toBody()).toEqual(none.toBody());
    const ghost = await failure(request(nc, authCatalog.faceLogin, { username: name("ghost"), encoding, client }));
    expect(ghost.toBody()).toEqual(none.toBody());

    const { items } = await request(nc, authCatalog.loginLog, { actor, userId: user.id });
    // Newest first: far face, good face, then the v1 password login of principalOf, preceded by the "no encoding" attempt.
    expect(items.slice(0, 2)).toEqual([
      {
        at: expect.any(String),
        method: "face",
        success: false,
        clientAddress: client.address,
        proofResourceId: "pic-far",
      },
      {
        at: expect.any(String),
        method: "face",
        success: true,
        clientAddress: client.address,
        proofResourceId: "pic-ok",
      },
    ]);
    expect(items.map((i) => `${i.method}:${i.success}`)).toEqual([
      "face:false",
      "face:true",
      "face:false",
      "password:true",
    ]);
    const times = items.map((i) => Date.parse(i.at));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    expect((await failure(request(nc, authCatalog.loginLog, { actor: other, userId: user.id }))).code).toBe(
      "forbidden",
    );
    expect((await request(nc, authCatalog.loginLog, { actor: admin, userId: user.id, limit: 1 })).items).toHaveLength(
      1,
    );

    await request(nc, authCatalog.refreshGrant, { refreshToken: pair.refresh_token, client });
    expect((await request(nc, authCatalog.loginLog, { actor, userId: user.id, limit: 1 })).items[0]).toMatchObject({
      method: "refresh",
      success: true,
    });
  });
});

describe("monitor credentials", () => {
  it("admin sets them once for an existing owner; the monitor logs in over v1; deletion ends its sessions", async () => {
    const owner = await registerUser();
    const asOwner = await principalOf(owner);
    const monitorId = randomBytes(16).toString("hex").toUpperCase();
    const pw = "Monitor-Pass-4821";

    expect(
      (
        await failure(
          request(nc, authCatalog.setMonitorCredentials, {
            actor: asOwner,
            monitorId,
            ownerId: owner.id,
            password: pw,
          }),
        )
      ).code,
    ).toBe("forbidden");
    const ghostOwner = await failure(
      request(nc, authCatalog.setMonitorCredentials, {
        actor: admin,
        monitorId,
        ownerId: "00000000-0000-4000-8000-000000000000",
        password: pw,
      }),
    );
    expect(ghostOwner).toMatchObject({ code: "invalid_argument", message: "user_id does not exist" });
    const weak = await failure(
      request(nc, authCatalog.setMonitorCredentials, {
        actor: admin,
        monitorId,
        ownerId: owner.id,
        password: "12345678",
      }),
    );
    expect(weak.code).toBe("invalid_argument");
    await request(nc, authCatalog.setMonitorCredentials, { actor: admin, monitorId, ownerId: owner.id, password: pw });
    const again = await failure(
      request(nc, authCatalog.setMonitorCredentials, {
        actor: admin,
        monitorId: monitorId.toLowerCase(),
        ownerId: owner.id,
        password: pw,
      }),
    );
    expect(again.code).toBe("conflict");

    const wrong = await failure(
      request(nc, authCatalog.v1LoginMonitor, { monitorId, password: "Wrong-Password-1", client: newClient() }),
    );
    const unknown = await failure(
      request(nc, authCatalog.v1LoginMonitor, {
        monitorId: randomBytes(16).toString("hex"),
        password: pw,
        client: newClient(),
      }),
    );
    expect(wrong.toBody()).toEqual(unknown.toBody());
    expect(wrong.code).toBe("unauthenticated");

    const { token } = await request(nc, authCatalog.v1LoginMonitor, {
      monitorId,
      password: pw,
      persist: true,
      client: newClient(),
    });
    const resolved = await request(nc, authCatalog.v1Resolve, { token });
    expect(resolved).toMatchObject({
      principal: { kind: "monitor", monitorId: monitorId.toLowerCase(), ownerId: owner.id },
      expiresAt: null,
    });
    expect(await request(nc, authCatalog.v1Verify, { kind: "monitor", id: monitorId, token })).toEqual({ valid: true });
    expect(await request(nc, authCatalog.v1Verify, { kind: "user", id: owner.id, token })).toEqual({ valid: false });

    expect((await failure(request(nc, authCatalog.deleteMonitorCredentials, { actor: asOwner, monitorId }))).code).toBe(
      "forbidden",
    );
    expect(await request(nc, authCatalog.deleteMonitorCredentials, { actor: admin, monitorId })).toEqual({
      deleted: true,
    });
    const event = await eventually(() =>
      revokedEvents.find((e) => e.sessionIds.includes(resolved.principal.sessionId)),
    );
    expect(event.reason).toBe("monitor_deleted");
    expect((await failure(request(nc, authCatalog.v1Resolve, { token }))).code).toBe("unauthenticated");
    expect(
      (await failure(request(nc, authCatalog.v1LoginMonitor, { monitorId, password: pw, client: newClient() }))).code,
    ).toBe("unauthenticated");
    expect(await request(nc, authCatalog.deleteMonitorCredentials, { actor: admin, monitorId })).toEqual({
      deleted: false,
    });
  });
});

describe("session sweep", () => {
  it("deletes sessions expired or revoked more than a day ago, and nothing else", async () => {
    const store = new SessionsStore(db);
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
    const left = await db
      .collection("sessions")
      .find({ _id: { $in: Object.values(ids) as never[] } })
      .toArray();
    expect(left.map((d) => d._id).sort()).toEqual([ids.persisted, ids.recentlyExpired, ids.recentlyRevoked].sort());
  });
});

describe("logs", () => {
  it("never carry a password, a token or a hash", () => {
    const output = auth.output();
    expect(output).toContain("request handled");
    for (const secret of [ADMIN.password, "Monitor-Pass-4821", "Wrong-Password-1", "$argon2id$", "PRIVATE KEY"]) {
      expect(output).not.toContain(secret);
    }
    expect(output).not.toMatch(/"[0-9a-f]{32}"/);
    expect(output).not.toMatch(/eyJ[A-Za-z0-9_-]+\.eyJ/);
  });
});

describe("instances", () => {
  it("two instances starting at once on an empty database agree on one signing key and one admin", async () => {
    const fresh = `t_auth2_${suffix}`;
    const pair = await Promise.all([
      startService("auth", envFor(fresh, `auth-${suffix}-a`)),
      startService("auth", envFor(fresh, `auth-${suffix}-b`)),
    ]);
    try {
      const kids = pair.map((p) => p.logs.find((l) => l.msg === "signing key loaded")?.kid);
      expect(kids[0]).toEqual(expect.any(String));
      expect(kids[1]).toBe(kids[0]);
      const freshDb = mongo.db(fresh);
      expect(await freshDb.collection("signing_keys").countDocuments()).toBe(1);
      expect(await freshDb.collection("users").countDocuments({ usernameLower: ADMIN.username })).toBe(1);
      const doc = await freshDb.collection("signing_keys").findOne({});
      expect(doc?.kid).toBe(kids[0]);
    } finally {
      await Promise.all(pair.map((p) => p.stop()));
    }
  });
});
