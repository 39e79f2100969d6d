/**
 * The auth service's accounts (over real NATS, FerretDB/MongoDB and Redis, through its catalog):
 * the bootstrap admin, registration and the password policy, who may see, list and promote whom,
 * and two instances starting at once on an empty database.
 */
import { authCatalog } from "@trellis/contracts";
import { request } from "@trellis/runtime";
import { startService } from "@trellis/stack/testing";
import { describe, expect, it } from "vitest";
import { failure, name, password, useAuthService } from "../test/int-fixture.ts";

const auth = useAuthService();

describe("users", () => {
  it("bootstraps the configured admin, once", async () => {
    expect(auth.admin.kind === "user" && auth.admin.role).toBe("admin");
    const user = await request(auth.nc, authCatalog.getUserByUsername, {
      actor: auth.admin,
      username: auth.adminAccount.username.toUpperCase(),
    });
    expect(user).toMatchObject({
      username: auth.adminAccount.username,
      role: "admin",
      email: null,
      hasFaceEncoding: false,
    });
    expect(await auth.db.collection("users").countDocuments({ usernameLower: auth.adminAccount.username })).toBe(1);
    expect(auth.proc.logs.some((l) => l.msg === "bootstrap admin created")).toBe(true);
    const health = await request(auth.nc, authCatalog.health, {});
    expect(health.dependencies).toMatchObject({ mongo: { ok: true }, redis: { ok: true }, nats: { ok: true } });
  });

  it("registers users; a username taken in any case or an email taken is a conflict", async () => {
    const username = name("Fern");
    const email = `${username}@example.org`;
    const created = await request(auth.nc, authCatalog.register, {
      username,
      password: password(),
      email: email.toUpperCase(),
    });
    expect(created).toMatchObject({ username, email: email.toLowerCase(), role: "user", hasFaceEncoding: false });
    expect(created.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(Object.keys(created).sort()).toEqual(["createdAt", "email", "hasFaceEncoding", "id", "role", "username"]);

    const sameName = await failure(
      request(auth.nc, authCatalog.register, {
        username: username.toUpperCase(),
        password: password(),
        email: `x-${email}`,
      }),
    );
    expect(sameName).toMatchObject({ code: "conflict", message: "username is taken" });
    const sameEmail = await failure(
      request(auth.nc, authCatalog.register, { username: name("other"), password: password(), email }),
    );
    expect(sameEmail).toMatchObject({ code: "conflict", message: "email is already registered" });
    // The email claimed by the refused registration (taken username) was released.
    await request(auth.nc, authCatalog.register, {
      username: name("third"),
      password: password(),
      email: `x-${email}`,
    });

    const stored = await auth.db.collection("users").findOne({ _id: created.id as never });
    expect(stored?.passwordHash).toMatch(/^\$argon2id\$v=19\$m=19456,p=1,t=2\$/);
  });

  it("applies the password policy and the registration rules", async () => {
    const username = name("policy");
    for (const [pw, reason] of [
      ["Ab1-xyz", /at least 8/],
      ["password1", /too common/],
      [username.toUpperCase(), /username/],
    ] as const) {
      const err = await failure(request(auth.nc, authCatalog.register, { username, password: pw }));
      expect(err.code).toBe("invalid_argument");
      expect(err.message).toMatch(reason);
    }
    expect(
      (await failure(request(auth.nc, authCatalog.register, { username, password: password(), role: "admin" }))).code,
    ).toBe("forbidden");

    const user = await auth.registerUser();
    const actor = await auth.principalOf(user);
    expect(
      (await failure(request(auth.nc, authCatalog.register, { username, password: password(), actor }))).code,
    ).toBe("forbidden");
    const made = await request(auth.nc, authCatalog.register, {
      username,
      password: password(),
      role: "admin",
      actor: auth.admin,
    });
    expect(made.role).toBe("admin");
  });

  it("lets users see themselves and admins see everyone; lists, batches and promotes for admins", async () => {
    const alice = await auth.registerUser("alice");
    const bob = await auth.registerUser("bob");
    const asAlice = await auth.principalOf(alice);

    expect((await request(auth.nc, authCatalog.getUser, { actor: asAlice, userId: alice.id })).username).toBe(
      alice.username,
    );
    expect((await failure(request(auth.nc, authCatalog.getUser, { actor: asAlice, userId: bob.id }))).code).toBe(
      "forbidden",
    );
    const ghost = "00000000-0000-4000-8000-000000000000";
    expect((await failure(request(auth.nc, authCatalog.getUser, { actor: asAlice, userId: ghost }))).code).toBe(
      "forbidden",
    );
    expect((await failure(request(auth.nc, authCatalog.getUser, { actor: auth.admin, userId: ghost }))).code).toBe(
      "not_found",
    );
    expect(
      (await failure(request(auth.nc, authCatalog.getUserByUsername, { actor: asAlice, username: bob.username }))).code,
    ).toBe("forbidden");
    expect(
      (await failure(request(auth.nc, authCatalog.getUserByUsername, { actor: asAlice, username: "nobody-here" })))
        .code,
    ).toBe("forbidden");
    expect((await failure(request(auth.nc, authCatalog.listUsers, { actor: asAlice }))).code).toBe("forbidden");

    const batch = await request(auth.nc, authCatalog.getUsersBatch, {
      actor: auth.admin,
      ids: [bob.id, ghost, "not-a-uuid", alice.id],
    });
    expect(batch.users.map((u) => u?.username ?? null)).toEqual([bob.username, null, null, alice.username]);

    const seen: string[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 100; pages++) {
      const page = await request(auth.nc, authCatalog.listUsers, {
        actor: auth.admin,
        limit: 2,
        ...(cursor ? { cursor } : {}),
      });
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((u) => u.id));
      if (page.nextCursor === null) break;
      cursor = page.nextCursor;
    }
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.length).toBe(await auth.db.collection("users").countDocuments());
    expect(seen.indexOf(alice.id)).toBeLessThan(seen.indexOf(bob.id));
    expect(
      (await failure(request(auth.nc, authCatalog.listUsers, { actor: auth.admin, cursor: "garbage!" }))).code,
    ).toBe("invalid_argument");

    expect((await failure(request(auth.nc, authCatalog.promote, { actor: asAlice, userId: alice.id }))).code).toBe(
      "forbidden",
    );
    expect((await request(auth.nc, authCatalog.promote, { actor: auth.admin, userId: bob.id })).role).toBe("admin");
    const asBob = await auth.principalOf(bob);
    expect(asBob.kind === "user" && asBob.role).toBe("admin");
  });
});

describe("instances", () => {
  it("two instances starting at once on an empty database agree on one signing key and one admin", async () => {
    const fresh = `t_auth2_${auth.suffix}`;
    const pair = await Promise.all([
      startService("auth", auth.envFor(fresh, `auth-${auth.suffix}-a`)),
      startService("auth", auth.envFor(fresh, `auth-${auth.suffix}-b`)),
    ]);
    try {
      const kids = pair.map((p) => p.logs.find((l) => l.msg === "signing key loaded")?.kid);
      expect(kids[0]).toEqual(expect.any(String));
      expect(kids[1]).toBe(kids[0]);
      const freshDb = auth.mongo.db(fresh);
      expect(await freshDb.collection("signing_keys").countDocuments()).toBe(1);
      expect(await freshDb.collection("users").countDocuments({ usernameLower: auth.adminAccount.username })).toBe(1);
      const doc = await freshDb.collection("signing_keys").findOne({});
      expect(doc?.kid).toBe(kids[0]);
    } finally {
      await Promise.all(pair.map((p) => p.stop()));
    }
  });
});
