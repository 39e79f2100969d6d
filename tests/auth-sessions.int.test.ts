/**
 * Sessions through the gateway: the seed 002 login codes, OAuth2 login in both encodings, refresh
 * rotation, revocation reaching every gateway within a second, no call to auth per authenticated
 * request, brute-force limits, and no secret in any log line.
 */
import { createHmac, randomBytes } from "node:crypto";
import { connect, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { useFileStack } from "@trellis/stack/vitest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN, http, type Platform, refusedWithin, startPlatform, within } from "./support/platform.ts";

const stack = useFileStack();
let platform: Platform;
let nc: NatsConnection;
let base: string;
let other: string;
const secrets = new Set<string>([ADMIN.password]);

async function register(prefix: string) {
  const username = `${prefix}-${randomBytes(4).toString("hex")}`;
  const password = `Pw-${randomBytes(8).toString("hex")}`;
  secrets.add(password);
  const res = await http(base, "POST", "/api/v2/auth/register", { json: { username, password } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { id: res.body.id as string, username, password };
}

async function tokens(account: { username: string; password: string }) {
  const res = await http(base, "POST", "/api/v2/auth/token", {
    json: { grant_type: "password", username: account.username, password: account.password },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  secrets.add(res.body.access_token);
  secrets.add(res.body.refresh_token);
  return res.body as { access_token: string; refresh_token: string; expires_in: number; token_type: string };
}

async function v1Login(account: { username: string; password: string }, persist = false) {
  const res = await http(base, "POST", "/api/v1/login/user", {
    json: { username: account.username, password: account.password, persist },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  secrets.add(res.body.data.token);
  return res.body.data as { token: string; username: string; user_id: string };
}

beforeAll(async () => {
  platform = await startPlatform({
    stack,
    services: ["auth"],
    gateways: 2,
    extraEnv: { LOGIN_MAX_FAILURES_PER_ACCOUNT: "4" },
  });
  [base, other] = platform.gateways as [string, string];
  nc = await connect({
    servers: stack.natsUrl,
    user: stack.natsUser,
    pass: stack.natsPassword,
  });
});

afterAll(async () => {
  await platform?.stop();
  await nc?.close();
});

describe("seed 002 login codes", () => {
  it("user login: 200 with a 32-hex token, 400 for a missing field or wrong Content-Type, 401 for bad credentials", async () => {
    const a = await register("codes");
    const ok = await http(base, "POST", "/api/v1/login/user", {
      json: { username: a.username, password: a.password, persist: false },
    });
    expect(ok.status).toBe(200);
    expect(ok.body.success).toBe(true);
    expect(Object.keys(ok.body.data).sort()).toEqual(["token", "user_id", "username"]);
    expect(ok.body.data.token).toMatch(/^[0-9a-f]{32}$/);
    expect(ok.body.data.user_id).toBe(a.id);
    secrets.add(ok.body.data.token);

    for (const json of [{ username: a.username }, { password: a.password }, {}]) {
      const missing = await http(base, "POST", "/api/v1/login/user", { json });
      expect(missing.status).toBe(400);
      expect(missing.body.success).toBe(false);
    }
    const text = await http(base, "POST", "/api/v1/login/user", {
      headers: { "content-type": "text/plain" },
    });
    expect(text.status).toBe(400);
    expect(text.body.cause).toMatch(/Content-Type/);

    const wrong = await http(base, "POST", "/api/v1/login/user", {
      json: { username: a.username, password: "Wrong-password-1" },
    });
    const unknown = await http(base, "POST", "/api/v1/login/user", {
      json: { username: `nobody-${a.username}`, password: "Wrong-password-1" },
    });
    expect(wrong.status).toBe(401);
    // No user enumeration: the same answer for an unknown user.
    expect(unknown.status).toBe(401);
    expect(unknown.body).toEqual(wrong.body);
  });

  it("monitor login: 400 missing, 401 unknown or malformed id", async () => {
    expect((await http(base, "POST", "/api/v1/login/monitor", { json: { password: "x" } })).status).toBe(400);
    expect(
      (
        await http(base, "POST", "/api/v1/login/monitor", {
          json: { monitor_id: "a".repeat(32), password: "Nope-nope-1" },
        })
      ).status,
    ).toBe(401);
    expect(
      (await http(base, "POST", "/api/v1/login/monitor", { json: { monitor_id: "not-hex", password: "Nope-nope-1" } }))
        .status,
    ).toBe(401);
  });

  it("owners/get for an admin: every user keyed by id, in seed 002's shape (a stream: it grows with the users)", async () => {
    const users = await Promise.all(["owners-a", "owners-b", "owners-c"].map((n) => register(n)));
    const { token } = await v1Login(ADMIN);
    const res = await http(base, "GET", `/api/v1/owners/get?token=${token}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(res.body.success).toBe(true);
    for (const u of users) expect(res.body.data[u.id]).toEqual({ username: u.username, type: "user", monitor_ids: [] });
    const admins = Object.values(res.body.data as Record<string, { type: string }>).filter((o) => o.type === "admin");
    expect(admins).toHaveLength(1);
    const one = await http(base, "GET", `/api/v1/owners/get?token=${token}&user_id=${users[0]?.id}`);
    expect(one.body.data).toEqual(res.body.data[users[0]?.id ?? ""]);
  });

  it("owners/get: 400 for an invalid user_id; resetpassword: 400 without new_password or with a wrong old one", async () => {
    const a = await register("owner400");
    const { token } = await v1Login(a);
    expect((await http(base, "GET", `/api/v1/owners/get?token=${token}&user_id=not-a-user`)).status).toBe(400);
    const missing = await http(base, "POST", "/api/v1/owners/resetpassword", {
      json: { token, user_id: a.id, old_password: a.password },
    });
    expect(missing.status).toBe(400);
    const wrongOld = await http(base, "POST", "/api/v1/owners/resetpassword", {
      json: { token, user_id: a.id, old_password: "Not-the-password-1", new_password: "Brand-New-Pass-22" },
    });
    expect(wrongOld.status).toBe(400);
    const weak = await http(base, "POST", "/api/v1/owners/resetpassword", {
      json: { token, user_id: a.id, old_password: a.password, new_password: "password" },
    });
    expect(weak.status).toBe(400);
  });

  it("a persisted token has no expiry; a plain one expires after 4 hours", async () => {
    const a = await register("persist");
    const persisted = await v1Login(a, true);
    const plain = await v1Login(a, false);
    const check = (token: string) =>
      http(base, "POST", "/api/v1/login/user/verify", { json: { user_id: a.id, token } });
    expect((await check(persisted.token)).body.data).toBe(true);
    expect((await check(plain.token)).body.data).toBe(true);
  });
});

describe("modern login", () => {
  it("accepts the OAuth2 password form and JSON, and rotates refresh tokens; a reused one ends the session", async () => {
    const a = await register("oauth");
    const form = await http(base, "POST", "/api/v2/auth/token", {
      form: { grant_type: "password", username: a.username, password: a.password },
    });
    expect(form.status).toBe(200);
    expect(form.body).toMatchObject({ token_type: "bearer", expires_in: expect.any(Number) });
    expect(form.headers.get("cache-control")).toBe("no-store");
    const first = await tokens(a);
    const [header] = first.access_token.split(".");
    expect(JSON.parse(Buffer.from(header as string, "base64url").toString())).toMatchObject({
      alg: "ES256",
      kid: expect.any(String),
    });

    const jwks = await http(base, "GET", "/.well-known/jwks.json");
    expect(jwks.body.keys[0]).toMatchObject({ kty: "EC", crv: "P-256", alg: "ES256", use: "sig" });
    expect(jwks.body.keys[0].d).toBeUndefined();

    const rotated = await http(base, "POST", "/api/v2/auth/token", {
      form: { grant_type: "refresh_token", refresh_token: first.refresh_token },
    });
    expect(rotated.status).toBe(200);
    secrets.add(rotated.body.access_token);
    secrets.add(rotated.body.refresh_token);
    expect(rotated.body.refresh_token).not.toBe(first.refresh_token);
    expect((await http(base, "GET", "/api/v2/me", { bearer: rotated.body.access_token })).status).toBe(200);

    const reuse = await http(base, "POST", "/api/v2/auth/token", {
      json: { grant_type: "refresh_token", refresh_token: first.refresh_token },
    });
    expect(reuse.status).toBe(401);
    // Reuse means theft: the whole session ends, the fresh tokens included.
    expect((await refusedWithin(1_000, base, rotated.body.access_token)).value.status).toBe(401);
    const afterReuse = await http(base, "POST", "/api/v2/auth/token", {
      json: { grant_type: "refresh_token", refresh_token: rotated.body.refresh_token },
    });
    expect(afterReuse.status).toBe(401);
  });

  it("refuses a token whose header names another algorithm than its key's, or whose signature was altered", async () => {
    const a = await register("alg");
    const { access_token } = await tokens(a);
    const [header, payload, signature] = access_token.split(".") as [string, string, string];
    const { kid } = JSON.parse(Buffer.from(header, "base64url").toString()) as { kid: string };
    // The classic confusion: HS256 with the public key as the shared secret.
    const jwks = await http(base, "GET", "/.well-known/jwks.json");
    const hsHeader = Buffer.from(JSON.stringify({ alg: "HS256", typ: "JWT", kid })).toString("base64url");
    const hsSignature = createHmac("sha256", JSON.stringify(jwks.body.keys[0]))
      .update(`${hsHeader}.${payload}`)
      .digest("base64url");
    const confused = `${hsHeader}.${payload}.${hsSignature}`;
    const flipped = `${header}.${payload}.${signature.startsWith("A") ? "B" : "A"}${signature.slice(1)}`;
    for (const forged of [confused, flipped]) {
      const res = await http(base, "GET", "/api/v2/me", { bearer: forged });
      expect(res.status).toBe(401);
    }
    expect((await http(base, "GET", "/api/v2/me", { bearer: access_token })).status).toBe(200);
  });

  it("bad credentials are 401 (not seed 001's 403), the same for an unknown user", async () => {
    const a = await register("bad");
    const wrong = await http(base, "POST", "/api/v2/auth/token", {
      json: { grant_type: "password", username: a.username, password: "Wrong-pass-123" },
    });
    const unknown = await http(base, "POST", "/api/v2/auth/token", {
      json: { grant_type: "password", username: `ghost-${a.username}`, password: "Wrong-pass-123" },
    });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(unknown.body).toEqual(wrong.body);
    expect(
      (await http(base, "POST", "/api/v2/auth/token", { json: { grant_type: "client_credentials" } })).status,
    ).toBe(400);
  });

  it("repeated failures for one account are refused with 429 and Retry-After, even with the right password", async () => {
    const a = await register("brute");
    for (let i = 0; i < 4; i++) {
      expect(
        (await http(base, "POST", "/api/v1/login/user", { json: { username: a.username, password: `Wrong-${i}-xyz` } }))
          .status,
      ).toBe(401);
    }
    const blocked = await http(base, "POST", "/api/v1/login/user", {
      json: { username: a.username, password: a.password },
    });
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    const blockedV2 = await http(base, "POST", "/api/v2/auth/token", {
      json: { grant_type: "password", username: a.username, password: a.password },
    });
    expect(blockedV2.status).toBe(429);
    expect(blockedV2.body.error.code).toBe("rate_limited");
  });
});

describe("revocation reaches every gateway within a second", () => {
  it("logout through one gateway is refused by the other", async () => {
    const a = await register("logout");
    const t = await tokens(a);
    expect((await http(other, "GET", "/api/v2/me", { bearer: t.access_token })).status).toBe(200);
    expect((await http(base, "POST", "/api/v2/auth/logout", { bearer: t.access_token })).status).toBe(204);
    const { value, elapsedMs } = await refusedWithin(1_000, other, t.access_token);
    expect(value.status).toBe(401);
    expect(elapsedMs).toBeLessThan(1_000);
  });

  it("a password reset ends v1 tokens, access and refresh tokens of that user", async () => {
    const a = await register("reset");
    const t = await tokens(a);
    const v1 = await v1Login(a, true);
    // Warm the gateways' v1 cache, so the test proves eviction rather than a cold lookup.
    expect((await http(other, "GET", `/api/v1/owners/get?token=${v1.token}&user_id=${a.id}`)).status).toBe(200);
    const reset = await http(base, "POST", "/api/v1/owners/resetpassword", {
      json: { token: v1.token, user_id: a.id, old_password: a.password, new_password: `Reset-${a.password}` },
    });
    expect(reset.status).toBe(200);
    expect((await refusedWithin(1_000, other, t.access_token)).value.status).toBe(401);
    const v1Gone = await within(
      1_000,
      () => http(other, "GET", `/api/v1/owners/get?token=${v1.token}&user_id=${a.id}`),
      (r) => r.status === 401,
    );
    expect(v1Gone.value.status).toBe(401);
    const refresh = await http(base, "POST", "/api/v2/auth/token", {
      json: { grant_type: "refresh_token", refresh_token: t.refresh_token },
    });
    expect(refresh.status).toBe(401);
    // The new password works; the old one does not.
    expect(
      (await http(base, "POST", "/api/v1/login/user", { json: { username: a.username, password: a.password } })).status,
    ).toBe(401);
    expect(
      (
        await http(base, "POST", "/api/v1/login/user", {
          json: { username: a.username, password: `Reset-${a.password}` },
        })
      ).status,
    ).toBe(200);
  });

  it("deleting a user ends their sessions everywhere", async () => {
    const a = await register("deleted");
    const t = await tokens(a);
    const v1 = await v1Login(a);
    expect((await http(base, "DELETE", `/api/v2/users/${a.id}`, { bearer: t.access_token })).status).toBe(204);
    expect((await refusedWithin(1_000, other, t.access_token)).value.status).toBe(401);
    const check = await http(base, "POST", "/api/v1/login/user/verify", { json: { user_id: a.id, token: v1.token } });
    expect(check.body.data).toBe(false);
  });
});

describe("the gateway verifies tokens locally", () => {
  it("100 authenticated requests make no request to auth", async () => {
    const a = await register("local");
    const t = await tokens(a);
    const v1 = await v1Login(a);
    expect((await http(base, "GET", "/api/v2/me", { bearer: t.access_token })).status).toBe(200);
    expect((await http(base, "GET", "/api/v2/me", { bearer: v1.token })).status).toBe(200);

    const calls: string[] = [];
    const sub: Subscription = nc.subscribe("auth.v1.>", { callback: (_e, m) => void calls.push(m.subject) });
    await nc.flush();
    for (let i = 0; i < 100; i++) {
      const res = await http(base, "GET", "/api/v2/me", { bearer: t.access_token });
      expect(res.status).toBe(200);
      expect(res.body.userId).toBe(a.id);
    }
    await nc.flush();
    expect(calls.filter((s) => !s.startsWith("auth.v1.events."))).toEqual([]);

    // v1 tokens are opaque: auth resolves them, but the gateway caches the answer.
    for (let i = 0; i < 100; i++)
      expect((await http(base, "GET", "/api/v2/me", { bearer: v1.token })).status).toBe(200);
    await nc.flush();
    expect(calls.filter((s) => s === "auth.v1.v1.resolve").length).toBeLessThanOrEqual(2);
    sub.unsubscribe();
  });
});

describe("logs", () => {
  it("no password, hash, token, refresh token or encoding appears in any log line", async () => {
    const a = await register("face");
    const t = await tokens(a);
    const encoding = Array.from({ length: 128 }, (_, i) => 0.123456789 + i / 1000);
    expect(
      (await http(base, "PUT", `/api/v2/users/${a.id}/face-encoding`, { bearer: t.access_token, json: { encoding } }))
        .status,
    ).toBe(204);
    const face = await http(base, "POST", "/api/v2/auth/face-login", {
      json: { username: a.username, encoding },
    });
    expect(face.status).toBe(200);
    secrets.add(face.body.access_token);
    secrets.add(face.body.refresh_token);
    const logins = await http(base, "GET", `/api/v2/users/${a.id}/logins`, { bearer: t.access_token });
    expect(logins.body.items[0]).toMatchObject({ method: "face", success: true, proofResourceId: null });

    const output = platform.procs.map((p) => p.output()).join("\n");
    expect(output.length).toBeGreaterThan(1_000);
    for (const secret of secrets)
      expect(output.includes(secret), `a secret leaked into the logs: ${secret.slice(0, 6)}…`).toBe(false);
    expect(output).not.toMatch(/\$argon2id\$/);
    expect(output).not.toContain("0.123456789");
    // Refresh tokens are `<sessionId>.<secret>`: not even the secret half may appear.
    for (const s of secrets) if (s.includes(".") && !s.startsWith("ey")) expect(output).not.toContain(s.split(".")[1]);
  });
});
