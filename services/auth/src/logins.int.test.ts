/**
 * How the auth service checks credentials (over real NATS, FerretDB/MongoDB and Redis, through its
 * catalog): one answer for an unknown user and a wrong password, failure limits per account and per
 * client address, and login by face encoding with its login log.
 */
import { authCatalog } from "@trellis/contracts";
import { request } from "@trellis/runtime";
import { describe, expect, it } from "vitest";
import {
  encoding,
  failure,
  MAX_PER_ACCOUNT,
  MAX_PER_CLIENT,
  name,
  shifted,
  useAuthService,
  WRONG_PASSWORD,
} from "../test/int-fixture.ts";

const auth = useAuthService();

describe("logins", () => {
  it("answers an unknown user and a wrong password identically", async () => {
    const user = await auth.registerUser();
    const client = auth.newClient();
    const unknown = await failure(
      request(auth.nc, authCatalog.passwordGrant, { username: name("ghost"), password: user.password, client }),
    );
    const wrong = await failure(
      request(auth.nc, authCatalog.passwordGrant, { username: user.username, password: WRONG_PASSWORD, client }),
    );
    expect(unknown.toBody()).toEqual(wrong.toBody());
    expect(wrong.toBody()).toEqual({ code: "unauthenticated", message: "invalid credentials", retryable: false });
    const v1Unknown = await failure(
      request(auth.nc, authCatalog.v1LoginUser, { username: name("ghost"), password: "x", client }),
    );
    expect(v1Unknown.toBody()).toEqual(wrong.toBody());
  });

  it("refuses an account after N failures, before checking the password; success clears the count", async () => {
    const user = await auth.registerUser();
    const wrong = { username: user.username, password: WRONG_PASSWORD };
    // Two failures, a success (clears), then N failures.
    for (let i = 0; i < MAX_PER_ACCOUNT - 1; i++)
      await failure(request(auth.nc, authCatalog.passwordGrant, { ...wrong, client: auth.newClient() }));
    await request(auth.nc, authCatalog.passwordGrant, { ...user, client: auth.newClient() });
    for (let i = 0; i < MAX_PER_ACCOUNT; i++) {
      expect(
        (await failure(request(auth.nc, authCatalog.v1LoginUser, { ...wrong, client: auth.newClient() }))).code,
      ).toBe("unauthenticated");
    }
    const limited = await failure(request(auth.nc, authCatalog.passwordGrant, { ...user, client: auth.newClient() }));
    expect(limited.code).toBe("rate_limited");
    expect(limited.retryable).toBe(true);
    expect(limited.details?.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(limited.details?.retryAfterSeconds).toBeLessThanOrEqual(900);
    // Face login is under the same account limit.
    const face = await failure(
      request(auth.nc, authCatalog.faceLogin, { username: user.username, encoding, client: auth.newClient() }),
    );
    expect(face.code).toBe("rate_limited");
  });

  it("holds the account limit against a burst of parallel guesses", async () => {
    const user = await auth.registerUser();
    const codes = await Promise.all(
      Array.from({ length: 10 }, async () => {
        const err = await failure(
          request(auth.nc, authCatalog.passwordGrant, {
            username: user.username,
            password: WRONG_PASSWORD,
            client: auth.newClient(),
          }),
        );
        return err.code;
      }),
    );
    expect(codes.filter((c) => c === "unauthenticated")).toHaveLength(MAX_PER_ACCOUNT);
    expect(codes.filter((c) => c === "rate_limited")).toHaveLength(10 - MAX_PER_ACCOUNT);
  });

  it("refuses a client address after M failures across accounts", async () => {
    const client = auth.newClient();
    for (let i = 0; i < MAX_PER_CLIENT; i++) {
      await failure(
        request(auth.nc, authCatalog.passwordGrant, { username: name("spray"), password: WRONG_PASSWORD, client }),
      );
    }
    const user = await auth.registerUser();
    expect((await failure(request(auth.nc, authCatalog.passwordGrant, { ...user, client }))).code).toBe("rate_limited");
    await request(auth.nc, authCatalog.passwordGrant, { ...user, client: auth.newClient() });
  });
});

describe("face encodings", () => {
  it("stores, reads and logs in by face within the tolerance; every attempt is in the login log", async () => {
    const user = await auth.registerUser();
    const actor = await auth.principalOf(user);
    const client = auth.newClient();
    expect((await failure(request(auth.nc, authCatalog.getFaceEncoding, { actor, userId: user.id }))).code).toBe(
      "not_found",
    );
    const none = await failure(request(auth.nc, authCatalog.faceLogin, { username: user.username, encoding, client }));
    expect(none.toBody()).toEqual({ code: "unauthenticated", message: "invalid credentials", retryable: false });

    await request(auth.nc, authCatalog.setFaceEncoding, { actor, userId: user.id, encoding });
    const read = await request(auth.nc, authCatalog.getFaceEncoding, { actor, userId: user.id });
    expect(read.encoding).toEqual(encoding);
    expect(Date.parse(read.updatedAt)).toBeGreaterThan(Date.now() - 60_000);
    expect((await request(auth.nc, authCatalog.getUser, { actor, userId: user.id })).hasFaceEncoding).toBe(true);
    const other = await auth.principalOf(await auth.registerUser());
    expect((await failure(request(auth.nc, authCatalog.getFaceEncoding, { actor: other, userId: user.id }))).code).toBe(
      "forbidden",
    );
    expect(
      (await failure(request(auth.nc, authCatalog.setFaceEncoding, { actor: other, userId: user.id, encoding }))).code,
    ).toBe("forbidden");

    // Without a picture (with one, auth asks media: tests/media-pictures.int.test.ts).
    const pair = await request(auth.nc, authCatalog.faceLogin, {
      username: user.username,
      encoding: shifted(0.55),
      client,
    });
    expect((await auth.verifyAccessToken(pair.access_token)).sub).toBe(user.id);
    const far = await failure(
      request(auth.nc, authCatalog.faceLogin, {
        username: user.username,
        encoding: shifted(0.65),
        client,
      }),
    );
    expect(far.toBody()).toEqual(none.toBody());
    const ghost = await failure(request(auth.nc, authCatalog.faceLogin, { username: name("ghost"), encoding, client }));
    expect(ghost.toBody()).toEqual(none.toBody());

    const { items } = await request(auth.nc, authCatalog.loginLog, { actor, userId: user.id });
    // Newest first: far face, good face, then the v1 password login of principalOf, preceded by the "no encoding" attempt.
    expect(items.slice(0, 2)).toEqual([
      {
        at: expect.any(String),
        method: "face",
        success: false,
        clientAddress: client.address,
        proofResourceId: null,
      },
      {
        at: expect.any(String),
        method: "face",
        success: true,
        clientAddress: client.address,
        proofResourceId: null,
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
    expect((await failure(request(auth.nc, authCatalog.loginLog, { actor: other, userId: user.id }))).code).toBe(
      "forbidden",
    );
    expect(
      (await request(auth.nc, authCatalog.loginLog, { actor: auth.admin, userId: user.id, limit: 1 })).items,
    ).toHaveLength(1);

    await request(auth.nc, authCatalog.refreshGrant, { refreshToken: pair.refresh_token, client });
    expect((await request(auth.nc, authCatalog.loginLog, { actor, userId: user.id, limit: 1 })).items[0]).toMatchObject(
      {
        method: "refresh",
        success: true,
      },
    );
  });
});
