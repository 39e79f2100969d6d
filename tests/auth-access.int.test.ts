/**
 * The permission table: every authenticated endpoint that exists × {no token, malformed token,
 * expired token, revoked token, the owner, another user, a monitor, an admin}, through the real
 * gateway and auth service. Each valid identity logs in afresh for each cell, so cells that end
 * sessions (logout, password reset, deletion) cannot disturb the others.
 */
import { createHash, createPrivateKey, randomBytes } from "node:crypto";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { authCatalog, type Principal } from "@trellis/contracts";
import { request } from "@trellis/runtime";
import { useFileStack } from "@trellis/stack/vitest";
import jwt from "jsonwebtoken";
import { MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN, type HttpReply, http, type Platform, startPlatform } from "./support/platform.ts";

type Identity = "none" | "malformed" | "expired" | "revoked" | "owner" | "other" | "monitor" | "admin";
const IDENTITIES: Identity[] = ["none", "malformed", "expired", "revoked", "owner", "other", "monitor", "admin"];

/** What a cell may use: a bearer token for /api/v2, a 32-hex token for /api/v1, and ids. */
interface Credential {
  bearer?: string;
  v1Token?: string;
}
interface Account {
  id: string;
  username: string;
  password: string;
}

const stack = useFileStack();
let platform: Platform;
let nc: NatsConnection;
let mongo: MongoClient;
let base: string;
let adminPrincipal: Principal;
const monitor = { id: randomBytes(16).toString("hex"), password: "Monitor-Pass-4821" };
let alice: Account;
let bob: Account;
const fixed: Record<"expired" | "revoked" | "malformed", Credential> = {
  expired: {},
  revoked: {},
  malformed: { bearer: "not.a.jwt", v1Token: "xyz" },
};

async function register(username: string, password = `Pw-${randomBytes(6).toString("hex")}`): Promise<Account> {
  const res = await http(base, "POST", "/api/v2/auth/register", { json: { username, password } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { id: res.body.id, username, password };
}

async function loginUser(account: { username: string; password: string }): Promise<Credential> {
  const [v2, v1] = await Promise.all([
    http(base, "POST", "/api/v2/auth/token", {
      form: { grant_type: "password", username: account.username, password: account.password },
    }),
    http(base, "POST", "/api/v1/login/user", { json: { username: account.username, password: account.password } }),
  ]);
  expect(v2.status, JSON.stringify(v2.body)).toBe(200);
  expect(v1.status, JSON.stringify(v1.body)).toBe(200);
  return { bearer: v2.body.access_token, v1Token: v1.body.data.token };
}

async function loginMonitor(): Promise<Credential> {
  const res = await http(base, "POST", "/api/v1/login/monitor", {
    json: { monitor_id: monitor.id, password: monitor.password },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  // Monitors have 32-hex tokens only; the modern API accepts them as bearer tokens too.
  return { bearer: res.body.data.token, v1Token: res.body.data.token };
}

/** The cell's credential; `owner` is the resource owner (alice, or a fresh user for destructive rows). */
async function credentialFor(who: Identity, owner: Account): Promise<Credential> {
  switch (who) {
    case "none":
      return {};
    case "malformed":
    case "expired":
    case "revoked":
      return fixed[who];
    case "owner":
      return loginUser(owner);
    case "other":
      return loginUser(bob);
    case "monitor":
      return loginMonitor();
    case "admin":
      return loginUser(ADMIN);
  }
}

interface Row {
  name: string;
  /** `fresh`: a new user per cell is the owner (for rows that change or delete the account). */
  owner: "alice" | "fresh";
  call: (cred: Credential, owner: Account) => Promise<HttpReply>;
  expect: Record<Identity, number>;
  /** Extra per-cell assertion on the body of a success. */
  check?: (reply: HttpReply, who: Identity) => void;
}

const v2 =
  (method: string, path: (o: Account) => string, json?: (o: Account) => unknown) =>
  (cred: Credential, owner: Account) =>
    http(base, method, path(owner), {
      ...(cred.bearer !== undefined ? { bearer: cred.bearer } : {}),
      ...(json ? { json: json(owner) } : {}),
    });

const DENIED_V2 = { none: 401, malformed: 401, expired: 401, revoked: 401 } as const;
const SELF_OR_ADMIN = (ok: number) => ({ ...DENIED_V2, owner: ok, other: 403, monitor: 403, admin: ok });
const ADMIN_ONLY = (ok: number) => ({ ...DENIED_V2, owner: 403, other: 403, monitor: 403, admin: ok });
const encoding = Array.from({ length: 128 }, (_, i) => Math.sin(i) / 4);

const rows: Row[] = [
  {
    name: "GET /api/v2/me",
    owner: "alice",
    call: v2("GET", () => "/api/v2/me"),
    expect: { ...DENIED_V2, owner: 200, other: 200, monitor: 200, admin: 200 },
    check: (r, who) => expect(r.body.kind).toBe(who === "monitor" ? "monitor" : "user"),
  },
  {
    name: "GET /api/v2/users/:id",
    owner: "alice",
    call: v2("GET", (o) => `/api/v2/users/${o.id}`),
    expect: SELF_OR_ADMIN(200),
  },
  {
    name: "GET /api/v2/users/by-username/:username",
    owner: "alice",
    call: v2("GET", (o) => `/api/v2/users/by-username/${o.username.toUpperCase()}`),
    expect: SELF_OR_ADMIN(200),
  },
  {
    name: "GET /api/v2/users",
    owner: "alice",
    call: v2("GET", () => "/api/v2/users?limit=2"),
    expect: ADMIN_ONLY(200),
  },
  {
    name: "POST /api/v2/users/batch",
    owner: "alice",
    call: v2(
      "POST",
      () => "/api/v2/users/batch",
      (o) => ({ ids: [o.id, "00000000-0000-4000-8000-000000000000"] }),
    ),
    expect: ADMIN_ONLY(200),
    check: (r) => expect(r.body.users[1]).toBeNull(),
  },
  {
    name: "POST /api/v2/users",
    owner: "alice",
    call: v2(
      "POST",
      () => "/api/v2/users",
      () => ({ username: `made-${randomBytes(4).toString("hex")}`, password: "Made-By-Admin-77" }),
    ),
    expect: ADMIN_ONLY(201),
  },
  {
    name: "POST /api/v2/users/:id/promote",
    owner: "fresh",
    call: v2("POST", (o) => `/api/v2/users/${o.id}/promote`),
    expect: ADMIN_ONLY(200),
  },
  {
    name: "GET /api/v2/users/:id/logins",
    owner: "alice",
    call: v2("GET", (o) => `/api/v2/users/${o.id}/logins`),
    expect: SELF_OR_ADMIN(200),
  },
  {
    name: "PUT /api/v2/users/:id/face-encoding",
    owner: "alice",
    call: v2(
      "PUT",
      (o) => `/api/v2/users/${o.id}/face-encoding`,
      () => ({ encoding }),
    ),
    expect: SELF_OR_ADMIN(204),
  },
  {
    name: "GET /api/v2/users/:id/face-encoding",
    owner: "alice",
    call: v2("GET", (o) => `/api/v2/users/${o.id}/face-encoding`),
    expect: SELF_OR_ADMIN(200),
  },
  {
    name: "PUT /api/v2/users/:id/password",
    owner: "fresh",
    call: v2(
      "PUT",
      (o) => `/api/v2/users/${o.id}/password`,
      (o) => ({ old_password: o.password, new_password: `New-${o.password}` }),
    ),
    expect: SELF_OR_ADMIN(204),
  },
  {
    name: "DELETE /api/v2/users/:id",
    owner: "fresh",
    call: v2("DELETE", (o) => `/api/v2/users/${o.id}`),
    expect: SELF_OR_ADMIN(204),
  },
  {
    name: "POST /api/v2/auth/logout",
    owner: "alice",
    call: v2("POST", () => "/api/v2/auth/logout"),
    expect: { ...DENIED_V2, owner: 204, other: 204, monitor: 204, admin: 204 },
  },
  // --- compatibility API: the token travels in the query (GET) or the JSON body (POST) ---
  {
    name: "GET /api/v1/owners/get?user_id",
    owner: "alice",
    call: (c, o) =>
      http(base, "GET", `/api/v1/owners/get?user_id=${o.id}${c.v1Token !== undefined ? `&token=${c.v1Token}` : ""}`),
    expect: { none: 400, malformed: 400, expired: 401, revoked: 401, owner: 200, other: 403, monitor: 403, admin: 200 },
    check: (r) => expect(Object.keys(r.body.data).sort()).toEqual(["monitor_ids", "type", "username"]),
  },
  {
    name: "GET /api/v1/owners/get (all users)",
    owner: "alice",
    call: (c) => http(base, "GET", `/api/v1/owners/get${c.v1Token !== undefined ? `?token=${c.v1Token}` : ""}`),
    expect: { none: 400, malformed: 400, expired: 401, revoked: 401, owner: 403, other: 403, monitor: 403, admin: 200 },
  },
  {
    name: "POST /api/v1/owners/resetpassword",
    owner: "fresh",
    call: (c, o) =>
      http(base, "POST", "/api/v1/owners/resetpassword", {
        json: {
          ...(c.v1Token !== undefined ? { token: c.v1Token } : {}),
          user_id: o.id,
          old_password: o.password,
          new_password: `V1-${o.password}`,
        },
      }),
    expect: { none: 400, malformed: 400, expired: 401, revoked: 401, owner: 200, other: 403, monitor: 403, admin: 200 },
  },
  {
    name: "POST /api/v1/logout/user",
    owner: "alice",
    call: (c, o) =>
      http(base, "POST", "/api/v1/logout/user", {
        json: { user_id: o.id, ...(c.v1Token !== undefined ? { token: c.v1Token } : {}) },
      }),
    // Only the owner's own token logs the owner out; any other token is "invalid credentials".
    expect: { none: 400, malformed: 401, expired: 401, revoked: 401, owner: 200, other: 401, monitor: 401, admin: 401 },
  },
  {
    name: "POST /api/v1/login/user/verify",
    owner: "alice",
    call: (c, o) =>
      http(base, "POST", "/api/v1/login/user/verify", {
        json: { user_id: o.id, ...(c.v1Token !== undefined ? { token: c.v1Token } : {}) },
      }),
    expect: { none: 400, malformed: 200, expired: 200, revoked: 200, owner: 200, other: 200, monitor: 200, admin: 200 },
    check: (r, who) => expect(r.body.data).toBe(who === "owner"),
  },
  {
    name: "POST /api/v1/logout/monitor",
    owner: "alice",
    call: (c) =>
      http(base, "POST", "/api/v1/logout/monitor", {
        json: { monitor_id: monitor.id, ...(c.v1Token !== undefined ? { token: c.v1Token } : {}) },
      }),
    expect: { none: 400, malformed: 401, expired: 401, revoked: 401, owner: 401, other: 401, monitor: 200, admin: 401 },
  },
  {
    name: "POST /api/v1/login/monitor/verify",
    owner: "alice",
    call: (c) =>
      http(base, "POST", "/api/v1/login/monitor/verify", {
        json: { monitor_id: monitor.id, ...(c.v1Token !== undefined ? { token: c.v1Token } : {}) },
      }),
    expect: { none: 400, malformed: 200, expired: 200, revoked: 200, owner: 200, other: 200, monitor: 200, admin: 200 },
    check: (r, who) => expect(r.body.data).toBe(who === "monitor"),
  },
];

beforeAll(async () => {
  platform = await startPlatform({ stack, services: ["auth"] });
  base = platform.base;
  nc = await connect({ servers: stack.natsUrl, user: stack.natsUser, pass: stack.natsPassword });
  mongo = new MongoClient(stack.mongoUrl);
  await mongo.connect();

  alice = await register(`alice-${platform.suffix}`);
  bob = await register(`bob-${platform.suffix}`);
  const admin = await loginUser(ADMIN);
  adminPrincipal = (await http(base, "GET", "/api/v2/me", { bearer: admin.bearer as string })).body;
  await request(nc, authCatalog.setMonitorCredentials, {
    actor: adminPrincipal,
    monitorId: monitor.id,
    ownerId: alice.id,
    password: monitor.password,
  });
  // The face-encoding GET row reads what the PUT row may not have written yet.
  expect(
    (
      await http(base, "PUT", `/api/v2/users/${alice.id}/face-encoding`, {
        bearer: admin.bearer as string,
        json: { encoding },
      })
    ).status,
  ).toBe(204);

  // Revoked: a v2 session logged out, a v1 token logged out.
  const revoked = await loginUser(alice);
  expect((await http(base, "POST", "/api/v2/auth/logout", { bearer: revoked.bearer as string })).status).toBe(204);
  expect(
    (await http(base, "POST", "/api/v1/logout/user", { json: { user_id: alice.id, token: revoked.v1Token } })).status,
  ).toBe(200);
  fixed.revoked = revoked;

  // Expired: a JWT signed with auth's real key whose exp has passed, and a v1 session past its 4 h.
  const db = mongo.db(platform.dbName("auth"));
  const key = await db
    .collection<{ _id: string; kid: string; privateKeyPem: string }>("signing_keys")
    .findOne({ _id: "current" });
  expect(key).not.toBeNull();
  const now = Math.floor(Date.now() / 1000);
  const expiredJwt = jwt.sign(
    {
      sub: alice.id,
      sid: "expired-session-000000",
      name: alice.username,
      role: "user",
      iat: now - 3_600,
      exp: now - 60,
      iss: "trellis",
      aud: "trellis",
    },
    createPrivateKey(key?.privateKeyPem as string),
    { algorithm: "ES256", keyid: key?.kid as string },
  );
  const oldV1 = (await loginUser(alice)).v1Token as string;
  const tokenHash = createHash("sha256").update(oldV1).digest("hex");
  const updated = await db
    .collection("sessions")
    .updateOne({ tokenHash }, { $set: { expiresAt: new Date(Date.now() - 1_000) } });
  expect(updated.modifiedCount).toBe(1);
  fixed.expired = { bearer: expiredJwt, v1Token: oldV1 };
});

afterAll(async () => {
  await platform?.stop();
  await nc?.close();
  await mongo?.close();
});

describe("permission table: endpoint × identity → status", () => {
  for (const row of rows) {
    it(row.name, async () => {
      const seen: Record<string, number> = {};
      for (const who of IDENTITIES) {
        const owner = row.owner === "fresh" ? await register(`fresh-${randomBytes(5).toString("hex")}`) : alice;
        const cred = await credentialFor(who, owner);
        const reply = await row.call(cred, owner);
        seen[who] = reply.status;
        if (reply.status < 300 && row.check) row.check(reply, who);
        if (reply.status >= 400) {
          // Every refusal has the JSON error shape of its API.
          if (row.name.includes("/api/v1/"))
            expect(reply.body).toMatchObject({ success: false, cause: expect.any(String) });
          else expect(reply.body.error).toMatchObject({ code: expect.any(String), message: expect.any(String) });
        }
      }
      expect(seen).toEqual(row.expect);
    });
  }
});
