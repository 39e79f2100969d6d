/**
 * Two-factor login inside the auth service (real NATS, FerretDB/MongoDB and Redis, through its
 * catalog): what is stored (a sealed seed, recovery code digests), `mfa_required` on the wire, and
 * that a code or a recovery code sent twice at once is accepted once. Codes come from Debian's
 * `oathtool`, an implementation independent of the service's.
 */
import { execFileSync } from "node:child_process";
import { authCatalog, type Principal } from "@trellis/contracts";
import { request } from "@trellis/runtime";
import { describe, expect, it } from "vitest";
import { failure, useAuthService } from "../test/int-fixture.ts";
import { MfaStore } from "./store/mfa.ts";

const auth = useAuthService();

const oathtool = (secret: string, offsetSeconds = 0) =>
  execFileSync(
    "oathtool",
    ["--totp", "--base32", "--now", `@${Math.floor(Date.now() / 1000) + offsetSeconds}`, secret],
    { encoding: "utf8" },
  ).trim();

/** A registered user, logged in over v2, with TOTP on: its principal, seed and recovery codes. */
async function enrolledUser() {
  const account = await auth.registerUser("mfa");
  const grant = await request(auth.nc, authCatalog.passwordGrant, { ...account, client: auth.newClient() });
  const claims = await auth.verifyAccessToken(grant.access_token);
  const actor: Principal = {
    kind: "user",
    userId: claims.sub,
    username: claims.name,
    role: claims.role,
    sessionId: claims.sid,
  };
  const enrolment = await request(auth.nc, authCatalog.totpEnroll, { actor });
  const secret = enrolment.secret;
  auth.testSecrets.add(secret);
  const { recoveryCodes } = await request(auth.nc, authCatalog.totpConfirm, {
    actor,
    code: oathtool(secret),
    client: auth.newClient(),
  });
  for (const c of recoveryCodes) auth.testSecrets.add(c);
  return { account, actor, secret, recoveryCodes };
}

async function challengeFor(account: { username: string; password: string }): Promise<string> {
  const err = await failure(request(auth.nc, authCatalog.passwordGrant, { ...account, client: auth.newClient() }));
  expect(err.code).toBe("mfa_required");
  expect(err.retryable).toBe(false);
  const challenge = err.details?.challenge as string;
  expect(challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
  auth.testSecrets.add(challenge);
  return challenge;
}

describe("two-factor login in the auth service", () => {
  it("stores the seed sealed (AES-256-GCM) and only digests of recovery codes", async () => {
    const { account, secret, recoveryCodes } = await enrolledUser();
    const doc = await auth.db.collection("user_mfa").findOne({ _id: account.id as never });
    expect(doc).toMatchObject({ enabled: true, lastStep: expect.any(Number) });
    const stored = JSON.stringify(doc);
    expect(doc?.totpSecret).toMatch(/^a256gcm:/);
    expect(stored).not.toContain(secret);
    for (const c of recoveryCodes) {
      expect(stored).not.toContain(c);
      expect(stored).not.toContain(c.replaceAll("-", ""));
    }
    expect(doc?.recoveryHashes).toHaveLength(10);
    for (const h of doc?.recoveryHashes ?? []) expect(h).toMatch(/^[0-9a-f]{64}$/);
  });

  it("a face login of an enrolled user needs the second factor too", async () => {
    const { account, actor } = await enrolledUser();
    const encoding = Array.from({ length: 128 }, (_, i) => Math.cos(i) / 5);
    await request(auth.nc, authCatalog.setFaceEncoding, { actor, userId: account.id, encoding });
    const err = await failure(
      request(auth.nc, authCatalog.faceLogin, { username: account.username, encoding, client: auth.newClient() }),
    );
    expect(err.code).toBe("mfa_required");
    auth.testSecrets.add(err.details?.challenge as string);
  });

  it("the same code sent on three challenges at once logs in once", async () => {
    const { account, secret } = await enrolledUser();
    const challenges = [await challengeFor(account), await challengeFor(account), await challengeFor(account)];
    const code = oathtool(secret, 30);
    const results = await Promise.allSettled(
      challenges.map((challenge) =>
        request(auth.nc, authCatalog.mfaGrant, { challenge, method: "totp", code, client: auth.newClient() }),
      ),
    );
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    for (const r of results) if (r.status === "rejected") expect(r.reason.code).toBe("unauthenticated");
  });

  it("one recovery code sent on two challenges at once logs in once, and a challenge completes once", async () => {
    const { account, actor, recoveryCodes } = await enrolledUser();
    const [a, b] = [await challengeFor(account), await challengeFor(account)];
    const code = recoveryCodes[0] as string;
    const results = await Promise.allSettled(
      [a, b].map((challenge) =>
        request(auth.nc, authCatalog.mfaGrant, { challenge, method: "recovery_code", code, client: auth.newClient() }),
      ),
    );
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    // The challenge that lost can still complete with another code; the winner's cannot.
    const winner = results[0]?.status === "fulfilled" ? a : b;
    const loser = winner === a ? b : a;
    const spent = await failure(
      request(auth.nc, authCatalog.mfaGrant, {
        challenge: winner,
        method: "recovery_code",
        code: recoveryCodes[1] as string,
        client: auth.newClient(),
      }),
    );
    expect(spent.code).toBe("unauthenticated");
    await request(auth.nc, authCatalog.mfaGrant, {
      challenge: loser,
      method: "recovery_code",
      code: recoveryCodes[2] as string,
      client: auth.newClient(),
    });
    const status = await request(auth.nc, authCatalog.mfaStatus, { actor });
    expect(status.totp.recoveryCodesLeft).toBe(8);
  });

  it("a time step or a recovery code is spent by one conditional update: a second spend fails", async () => {
    // The store the service uses, on the service's database: the guarantee must not rest on one
    // instance handling requests in turn (several auth instances share the database).
    const store = new MfaStore(auth.db);
    const userId = crypto.randomUUID();
    expect(await store.setPending(userId, "plain:JBSWY3DPEHPK3PXP", new Date())).toBe(true);
    expect(await store.spendStep(userId, 100)).toBe(false); // not on yet
    expect(await store.enable(userId, 100, ["h1", "h2"], new Date())).toBe(true);
    expect(await store.enable(userId, 101, ["h3"], new Date())).toBe(false);
    expect(await store.setPending(userId, "plain:AAAA", new Date())).toBe(false); // on: no re-enrolment
    expect(await store.spendStep(userId, 100)).toBe(false); // spent by the confirmation
    const twice = await Promise.all([store.spendStep(userId, 101), store.spendStep(userId, 101)]);
    expect(twice.sort()).toEqual([false, true]);
    expect(await store.spendStep(userId, 100)).toBe(false); // earlier than the last one used
    expect(await store.spendStep(userId, 102)).toBe(true);
    const codes = await Promise.all([store.spendRecoveryCode(userId, "h1"), store.spendRecoveryCode(userId, "h1")]);
    expect(codes.sort()).toEqual([false, true]);
    expect(await store.spendRecoveryCode(userId, "nope")).toBe(false);
    expect((await store.findByUser(userId))?.recoveryHashes).toEqual(["h2"]);
    expect(await store.delete(userId)).toBe(true);
  });

  it("deleting the user removes their two-factor settings", async () => {
    const { account, actor } = await enrolledUser();
    await request(auth.nc, authCatalog.deleteUser, { actor, userId: account.id });
    expect(await auth.db.collection("user_mfa").findOne({ _id: account.id as never })).toBeNull();
  });
});
