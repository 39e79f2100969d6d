/**
 * Sessions and two-factor login through two gateways: a user's list of sessions (user agent,
 * address, `current`), ending one or the others (refused by the other gateway within a second),
 * TOTP enrolment, `mfa_required` and its completion with codes computed by an independent RFC 6238
 * implementation (Debian's `oathtool`), replayed and wrong codes, recovery codes, the failure
 * limit, disabling, an admin's reset, and no secret in any log line.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { MFA_OTP_GRANT, MFA_RECOVERY_CODE_GRANT } from "@trellis/contracts";
import { useFileStack } from "@trellis/stack/vitest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN, http, type Platform, refusedWithin, startPlatform } from "./support/platform.ts";

const MAX_FAILURES = 3;
const stack = useFileStack();
let platform: Platform;
let base: string;
let other: string;
const secrets = new Set<string>([ADMIN.password]);

interface Account {
  id: string;
  username: string;
  password: string;
}
interface Tokens {
  access_token: string;
  refresh_token: string;
}

async function register(prefix: string): Promise<Account> {
  const username = `${prefix}-${randomBytes(4).toString("hex")}`;
  const password = `Pw-${randomBytes(8).toString("hex")}`;
  secrets.add(password);
  const res = await http(base, "POST", "/api/v2/auth/register", { json: { username, password } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { id: res.body.id, username, password };
}

const passwordGrant = (a: Account, userAgent?: string, gateway = base) =>
  http(gateway, "POST", "/api/v2/auth/token", {
    json: { grant_type: "password", username: a.username, password: a.password },
    ...(userAgent ? { headers: { "user-agent": userAgent } } : {}),
  });

function keep(body: Tokens): Tokens {
  secrets.add(body.access_token);
  secrets.add(body.refresh_token);
  return body;
}

async function login(a: Account, userAgent?: string): Promise<Tokens> {
  const res = await passwordGrant(a, userAgent);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return keep(res.body);
}

/** The first step of an enrolled user's login: 401 `mfa_required` with a challenge. */
async function challengeOf(a: Account): Promise<string> {
  const res = await passwordGrant(a);
  expect(res.status, JSON.stringify(res.body)).toBe(401);
  expect(res.body.error.code).toBe("mfa_required");
  expect(res.body.error.details.challenge).toEqual(expect.any(String));
  return res.body.error.details.challenge;
}

const otpGrant = (challenge: string, otp: string) =>
  http(base, "POST", "/api/v2/auth/token", { form: { grant_type: MFA_OTP_GRANT, challenge, otp } });
const recoveryGrant = (challenge: string, recovery_code: string) =>
  http(base, "POST", "/api/v2/auth/token", { json: { grant_type: MFA_RECOVERY_CODE_GRANT, challenge, recovery_code } });

/** A TOTP code from oathtool (not the service's library), for now plus `offsetSeconds`. */
function oathtool(secret: string, offsetSeconds = 0): string {
  const at = Math.floor(Date.now() / 1000) + offsetSeconds;
  return execFileSync("oathtool", ["--totp", "--base32", "--now", `@${at}`, secret], { encoding: "utf8" }).trim();
}
/**
 * The next step's code: accepted (one step of drift is allowed) and later than a code of this
 * step just spent, so one test can use two codes without waiting 30 seconds.
 */
const nextCode = (secret: string) => oathtool(secret, 30);

/** Registers, logs in and turns TOTP on: the account, its tokens, the secret and the recovery codes. */
async function enrolled(prefix: string) {
  const a = await register(prefix);
  const t = await login(a);
  const enrol = await http(base, "POST", "/api/v2/me/mfa/totp", { bearer: t.access_token });
  expect(enrol.status, JSON.stringify(enrol.body)).toBe(201);
  const uri = new URL(enrol.body.otpauthUri);
  const secret = uri.searchParams.get("secret") as string;
  secrets.add(secret);
  const confirm = await http(base, "POST", "/api/v2/me/mfa/totp/confirm", {
    bearer: t.access_token,
    json: { code: oathtool(secret) },
  });
  expect(confirm.status, JSON.stringify(confirm.body)).toBe(200);
  const recoveryCodes = confirm.body.recoveryCodes as string[];
  for (const c of recoveryCodes) secrets.add(c);
  return { account: a, tokens: t, secret, recoveryCodes };
}

beforeAll(async () => {
  platform = await startPlatform({
    stack,
    services: ["auth"],
    gateways: 2,
    extraEnv: {
      LOGIN_MAX_FAILURES_PER_ACCOUNT: String(MAX_FAILURES),
      MFA_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
    },
  });
  [base, other] = platform.gateways as [string, string];
});

afterAll(async () => {
  await platform?.stop();
});

describe("sessions", () => {
  it("lists the caller's logins with user agent, address and `current`, v1 tokens included", async () => {
    const a = await register("list");
    const phone = await login(a, "TrellisPhone/1.0");
    const laptop = await login(a, "TrellisLaptop/2.0");
    const v1 = await http(base, "POST", "/api/v1/login/user", {
      json: { username: a.username, password: a.password },
      headers: { "user-agent": "SeedClient/0.2" },
    });
    expect(v1.status).toBe(200);
    secrets.add(v1.body.data.token);

    const res = await http(other, "GET", "/api/v2/sessions", { bearer: laptop.access_token });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const items = res.body.items as Array<Record<string, unknown>>;
    expect(items).toHaveLength(3);
    const byAgent = new Map(items.map((s) => [s.userAgent, s]));
    expect(byAgent.get("TrellisLaptop/2.0")).toMatchObject({ api: "v2", current: true });
    expect(byAgent.get("TrellisPhone/1.0")).toMatchObject({ api: "v2", current: false });
    expect(byAgent.get("SeedClient/0.2")).toMatchObject({ api: "v1", current: false });
    for (const s of items) {
      expect(s.ipAddress).toMatch(/127\.0\.0\.1$/);
      expect(Date.parse(s.createdAt as string)).toBeGreaterThan(Date.now() - 60_000);
      expect(Date.parse(s.lastUsedAt as string)).toBeGreaterThanOrEqual(Date.parse(s.createdAt as string));
    }
    // The session id is the access token's `sid`; the refresh token starts with it.
    expect(byAgent.get("TrellisPhone/1.0")?.id).toBe(phone.refresh_token.split(".")[0]);
    // A v1 token sees the same list, with its own session current.
    const fromV1 = await http(base, "GET", "/api/v2/sessions", { bearer: v1.body.data.token });
    expect(fromV1.body.items.find((s: { current: boolean }) => s.current).api).toBe("v1");

    // Only the caller's own sessions.
    const b = await register("list-other");
    const bt = await login(b);
    const theirs = await http(base, "GET", "/api/v2/sessions", { bearer: bt.access_token });
    expect(theirs.body.items).toHaveLength(1);
    expect(theirs.body.items[0].current).toBe(true);
    expect((await http(base, "GET", "/api/v2/sessions")).status).toBe(401);
  });

  it("ending one: its refresh fails at once and the other gateway refuses its access token within a second", async () => {
    const a = await register("end-one");
    const stolen = await login(a, "Unknown/9");
    const mine = await login(a, "Mine/1");
    const stolenId = stolen.refresh_token.split(".")[0] as string;
    expect((await http(other, "GET", "/api/v2/me", { bearer: stolen.access_token })).status).toBe(200);

    // Another user cannot end it, nor learn that it exists: 404 like an unknown id.
    const intruder = await login(await register("intruder"));
    const foreign = await http(base, "DELETE", `/api/v2/sessions/${stolenId}`, { bearer: intruder.access_token });
    expect(foreign.status).toBe(404);
    expect(
      (await http(base, "DELETE", "/api/v2/sessions/no-such-session-id", { bearer: mine.access_token })).status,
    ).toBe(404);
    expect((await http(other, "GET", "/api/v2/me", { bearer: stolen.access_token })).status).toBe(200);

    const del = await http(base, "DELETE", `/api/v2/sessions/${stolenId}`, { bearer: mine.access_token });
    expect(del.status).toBe(204);
    const { value, elapsedMs } = await refusedWithin(1_000, other, stolen.access_token);
    expect(value.status).toBe(401);
    expect(elapsedMs).toBeLessThan(1_000);
    const refresh = await http(base, "POST", "/api/v2/auth/token", {
      json: { grant_type: "refresh_token", refresh_token: stolen.refresh_token },
    });
    expect(refresh.status).toBe(401);
    // Already ended: 404. The caller's own session is untouched.
    expect((await http(base, "DELETE", `/api/v2/sessions/${stolenId}`, { bearer: mine.access_token })).status).toBe(
      404,
    );
    expect((await http(other, "GET", "/api/v2/me", { bearer: mine.access_token })).status).toBe(200);
    const left = await http(base, "GET", "/api/v2/sessions", { bearer: mine.access_token });
    expect(left.body.items.map((s: { id: string }) => s.id)).not.toContain(stolenId);
  });

  it("others=true ends every other session and keeps the current one (others is required)", async () => {
    const a = await register("others");
    const [one, two, three] = [await login(a), await login(a), await login(a)] as [Tokens, Tokens, Tokens];
    for (const query of ["", "?others=false", "?others=yes"]) {
      const refused = await http(base, "DELETE", `/api/v2/sessions${query}`, { bearer: three.access_token });
      expect(refused.status).toBe(400);
    }
    const res = await http(base, "DELETE", "/api/v2/sessions?others=true", { bearer: three.access_token });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ revoked: 2 });
    for (const t of [one, two]) expect((await refusedWithin(1_000, other, t.access_token)).value.status).toBe(401);
    expect((await http(other, "GET", "/api/v2/me", { bearer: three.access_token })).status).toBe(200);
    const list = await http(base, "GET", "/api/v2/sessions", { bearer: three.access_token });
    expect(list.body.items).toHaveLength(1);
    expect(list.body.items[0].current).toBe(true);
    // Nothing else to end.
    const again = await http(base, "DELETE", "/api/v2/sessions?others=true", { bearer: three.access_token });
    expect(again.body).toEqual({ revoked: 0 });
    expect((await http(other, "GET", "/api/v2/me", { bearer: three.access_token })).status).toBe(200);
  });
});

describe("two-factor login (TOTP)", () => {
  it("enrol, confirm, then login answers mfa_required and completes with an oathtool code", async () => {
    const a = await register("totp");
    const t = await login(a);
    const before = await http(base, "GET", "/api/v2/me/mfa", { bearer: t.access_token });
    expect(before.body).toEqual({ totp: { enabled: false, pending: false, enabledAt: null, recoveryCodesLeft: 0 } });

    const enrol = await http(base, "POST", "/api/v2/me/mfa/totp", { bearer: t.access_token });
    expect(enrol.status).toBe(201);
    expect(enrol.headers.get("cache-control")).toBe("no-store");
    const uri = new URL(enrol.body.otpauthUri);
    expect(uri.protocol).toBe("otpauth:");
    expect(uri.host).toBe("totp");
    expect(decodeURIComponent(uri.pathname)).toBe(`/Trellis:${a.username}`);
    expect(Object.fromEntries(uri.searchParams)).toMatchObject({
      issuer: "Trellis",
      algorithm: "SHA1",
      digits: "6",
      period: "30",
    });
    const secret = uri.searchParams.get("secret") as string;
    secrets.add(secret);
    expect(secret).toBe(enrol.body.secret);
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    const png = Buffer.from(enrol.body.qrCode.replace(/^data:image\/png;base64,/, ""), "base64");
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));

    // Pending: logins are unchanged until a first code confirms it.
    expect((await http(base, "GET", "/api/v2/me/mfa", { bearer: t.access_token })).body.totp).toMatchObject({
      enabled: false,
      pending: true,
    });
    expect((await passwordGrant(a)).status).toBe(200);
    const wrong = await http(base, "POST", "/api/v2/me/mfa/totp/confirm", {
      bearer: t.access_token,
      json: { code: oathtool(secret, -600) },
    });
    expect(wrong.status).toBe(400);
    const malformed = await http(base, "POST", "/api/v2/me/mfa/totp/confirm", {
      bearer: t.access_token,
      json: { code: "12ab56" },
    });
    expect(malformed.status).toBe(400);
    const confirm = await http(base, "POST", "/api/v2/me/mfa/totp/confirm", {
      bearer: t.access_token,
      json: { code: oathtool(secret) },
    });
    expect(confirm.status, JSON.stringify(confirm.body)).toBe(200);
    expect(confirm.body.recoveryCodes).toHaveLength(10);
    expect(new Set(confirm.body.recoveryCodes).size).toBe(10);
    for (const c of confirm.body.recoveryCodes) secrets.add(c);
    const status = await http(base, "GET", "/api/v2/me/mfa", { bearer: t.access_token });
    expect(status.body.totp).toMatchObject({ enabled: true, pending: false, recoveryCodesLeft: 10 });
    expect(JSON.stringify(status.body)).not.toContain(secret);
    // The secret is never shown again: enrolling again is a conflict while it is on.
    expect((await http(base, "POST", "/api/v2/me/mfa/totp", { bearer: t.access_token })).status).toBe(409);

    const challenge = await challengeOf(a);
    const code = nextCode(secret);
    const done = await otpGrant(challenge, code);
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect(done.headers.get("cache-control")).toBe("no-store");
    const tokens = keep(done.body);
    const me = await http(other, "GET", "/api/v2/me", { bearer: tokens.access_token });
    expect(me.body.userId).toBe(a.id);
    // The challenge is spent.
    expect((await otpGrant(challenge, code)).status).toBe(401);
    // The same code again, with a fresh challenge: refused within its window.
    const replay = await otpGrant(await challengeOf(a), code);
    expect(replay.status).toBe(401);
    expect(replay.body.error.code).toBe("unauthenticated");
    // A made-up challenge is refused.
    expect((await otpGrant(randomBytes(32).toString("base64url"), nextCode(secret))).status).toBe(401);

    // v1 clients cannot send a second factor: the seed's 401.
    const v1 = await http(base, "POST", "/api/v1/login/user", { json: { username: a.username, password: a.password } });
    expect(v1.status).toBe(401);
    expect(v1.body.success).toBe(false);
    // A wrong password is still the plain 401, with no challenge.
    const bad = await passwordGrant({ ...a, password: "Wrong-password-77" });
    expect(bad.status).toBe(401);
    expect(bad.body.error.code).toBe("unauthenticated");
    expect(bad.body.error.details?.challenge).toBeUndefined();

    const logins = await http(base, "GET", `/api/v2/users/${a.id}/logins`, { bearer: tokens.access_token });
    const methods = logins.body.items.map((e: { method: string; success: boolean }) => `${e.method}:${e.success}`);
    expect(methods).toContain("totp:true");
    expect(methods).toContain("totp:false");
  });

  it("wrong codes count like failed passwords: 429 even for the right code, and a right password does not reset it", async () => {
    const { account, secret } = await enrolled("mfa-brute");
    const challenge = await challengeOf(account);
    for (let i = 0; i < MAX_FAILURES; i++) {
      const res = await otpGrant(challenge, oathtool(secret, -600 - 30 * i));
      expect(res.status).toBe(401);
    }
    // The password is right (its own count is fine) but the codes' count is spent.
    const again = await challengeOf(account);
    const blocked = await otpGrant(again, nextCode(secret));
    expect(blocked.status).toBe(429);
    expect(blocked.body.error.code).toBe("rate_limited");
    expect(Number(blocked.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
  });

  it("a recovery code works once instead of a TOTP code", async () => {
    const { account, tokens, recoveryCodes } = await enrolled("recovery");
    const code = recoveryCodes[3] as string;
    expect(code).toMatch(/^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$/);
    // Case and dashes do not matter.
    const ok = await recoveryGrant(await challengeOf(account), code.toUpperCase().replaceAll("-", ""));
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    keep(ok.body);
    expect(
      (await http(base, "GET", "/api/v2/me/mfa", { bearer: tokens.access_token })).body.totp.recoveryCodesLeft,
    ).toBe(9);
    const twice = await recoveryGrant(await challengeOf(account), code);
    expect(twice.status).toBe(401);
    const other = await recoveryGrant(await challengeOf(account), recoveryCodes[4] as string);
    expect(other.status).toBe(200);
    keep(other.body);
  });

  it("disable needs a right code; afterwards the password alone logs in", async () => {
    const { account, tokens, secret } = await enrolled("disable");
    const disable = (code: string) =>
      http(base, "POST", "/api/v2/me/mfa/totp/disable", { bearer: tokens.access_token, json: { code } });
    expect((await disable(oathtool(secret, -600))).status).toBe(400);
    expect((await disable("not-a-recovery-code")).status).toBe(400);
    expect((await disable(nextCode(secret))).status).toBe(204);
    expect((await disable(nextCode(secret))).status).toBe(409);
    expect((await http(base, "GET", "/api/v2/me/mfa", { bearer: tokens.access_token })).body.totp.enabled).toBe(false);
    keep((await login(account)) as Tokens);
  });

  it("an admin resets a user's two-factor login; nobody else may", async () => {
    const { account, tokens } = await enrolled("reset");
    const path = `/api/v2/users/${account.id}/mfa`;
    expect((await http(base, "DELETE", path, { bearer: tokens.access_token })).status).toBe(403);
    const admin = await login({ id: "", ...ADMIN });
    expect((await http(base, "DELETE", path, { bearer: admin.access_token })).status).toBe(204);
    expect(
      (
        await http(base, "DELETE", "/api/v2/users/00000000-0000-4000-8000-000000000000/mfa", {
          bearer: admin.access_token,
        })
      ).status,
    ).toBe(404);
    expect((await passwordGrant(account)).status).toBe(200);
  });
});

describe("logs", () => {
  it("no TOTP secret, recovery code, challenge, password or token appears in any log line", async () => {
    const { account, secret } = await enrolled("logs");
    const challenge = await challengeOf(account);
    secrets.add(challenge);
    keep((await otpGrant(challenge, nextCode(secret))).body);
    const output = platform.procs.map((p) => p.output()).join("\n");
    expect(output.length).toBeGreaterThan(1_000);
    for (const s of secrets) expect(output.includes(s), `a secret leaked into the logs: ${s.slice(0, 4)}…`).toBe(false);
    for (const s of secrets) if (s.includes(".") && !s.startsWith("ey")) expect(output).not.toContain(s.split(".")[1]);
  });
});
