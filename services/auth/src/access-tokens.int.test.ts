/**
 * Signing keys against the real database: a new deployment signs ES256; a deployment whose stored
 * key is an RS256 key from an earlier version keeps signing (and publishing) RS256 with it.
 */
import { createPublicKey, generateKeyPairSync } from "node:crypto";
import { uniqueSuffix } from "@trellis/stack/testing";
import jwt from "jsonwebtoken";
import { type Db, MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { AccessTokens } from "./access-tokens.ts";
import { SigningKeysStore } from "./store/signing-keys.ts";

const stack = inject("stack");
const options = { issuer: "trellis", audience: "trellis", ttlSeconds: 900 };
const claims = {
  sub: "3ac7bb82-fa5b-4cd8-b174-89679ddffbd8",
  sid: "bvstjAz1EPdefCbTFw4A4w",
  name: "fern",
  role: "user" as const,
};

let mongo: MongoClient;
const dbs: Db[] = [];
const freshDb = () => {
  const db = mongo.db(`t_keys_${uniqueSuffix()}`);
  dbs.push(db);
  return db;
};

/** Verifies `token` with the JWKS entry its header names, using the algorithm the entry states. */
function verifyWithJwks(token: string, tokens: AccessTokens) {
  const header = jwt.decode(token, { complete: true })?.header;
  const jwk = tokens.publicKeys().keys.find((k) => k.kid === header?.kid);
  if (!jwk) throw new Error("no key for the token's kid");
  const payload = jwt.verify(token, createPublicKey({ key: jwk as never, format: "jwk" }), {
    algorithms: [jwk.alg],
    issuer: "trellis",
    audience: "trellis",
  });
  return { header, jwk, payload };
}

beforeAll(async () => {
  mongo = new MongoClient(stack.mongoUrl);
  await mongo.connect();
});

afterAll(async () => {
  for (const db of dbs) await db.dropDatabase().catch(() => {});
  await mongo?.close();
});

describe("signing keys", () => {
  it("a new deployment stores a P-256 key and signs ES256; a second instance loads the same key", async () => {
    const db = freshDb();
    const first = await AccessTokens.load(new SigningKeysStore(db), options);
    const second = await AccessTokens.load(new SigningKeysStore(db), options);
    expect(first.algorithm).toBe("ES256");
    expect(second.kid).toBe(first.kid);
    const { header, jwk, payload } = verifyWithJwks(second.sign(claims), first);
    expect(header).toMatchObject({ alg: "ES256", kid: first.kid });
    expect(jwk).toMatchObject({ kty: "EC", crv: "P-256", alg: "ES256", use: "sig" });
    expect(jwk).not.toHaveProperty("d");
    expect(payload).toMatchObject(claims);
  });

  it("keeps signing RS256 with an RSA key stored by an earlier version", async () => {
    const db = freshDb();
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const publicJwk = createPublicKey(privateKey).export({ format: "jwk" });
    await db.collection("signing_keys").insertOne({
      _id: "current" as never,
      kid: "legacy-rsa-key",
      privateKeyPem: privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
      publicJwk: { ...publicJwk, kid: "legacy-rsa-key", alg: "RS256", use: "sig" },
      createdAt: new Date(),
    });
    const tokens = await AccessTokens.load(new SigningKeysStore(db), options);
    expect(tokens.algorithm).toBe("RS256");
    const { header, jwk, payload } = verifyWithJwks(tokens.sign(claims), tokens);
    expect(header).toMatchObject({ alg: "RS256", kid: "legacy-rsa-key" });
    expect(jwk).toMatchObject({ kty: "RSA", alg: "RS256", e: publicJwk.e, n: publicJwk.n });
    expect(payload).toMatchObject(claims);
    expect(await db.collection("signing_keys").countDocuments()).toBe(1);
  });
});
