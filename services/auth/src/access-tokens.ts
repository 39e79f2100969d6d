import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import type { AccessClaims, Jwks } from "@trellis/contracts";
import jwt from "jsonwebtoken";
import { rsaJwkThumbprint } from "./domain/tokens.ts";
import type { SigningKeysStore } from "./store/signing-keys.ts";

export interface AccessTokenOptions {
  issuer: string;
  audience: string;
  ttlSeconds: number;
}

/** Signs RS256 access tokens with the key pair shared by every auth instance, and publishes its JWKS. */
export class AccessTokens {
  readonly kid: string;
  readonly ttlSeconds: number;
  private readonly privateKey: KeyObject;
  private readonly jwks: Jwks;
  private readonly options: AccessTokenOptions;

  private constructor(
    kid: string,
    privateKey: KeyObject,
    publicJwk: Record<string, unknown>,
    options: AccessTokenOptions,
  ) {
    this.kid = kid;
    this.privateKey = privateKey;
    this.options = options;
    this.ttlSeconds = options.ttlSeconds;
    this.jwks = { keys: [{ ...publicJwk, kty: "RSA", kid, alg: "RS256", use: "sig" }] };
  }

  /** Loads the stored key pair, storing a freshly generated one first if there is none. */
  static async load(store: SigningKeysStore, options: AccessTokenOptions): Promise<AccessTokens> {
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const jwk = createPublicKey(privateKey).export({ format: "jwk" });
    const kid = rsaJwkThumbprint({ e: jwk.e as string, n: jwk.n as string });
    const stored = await store.currentOr({
      kid,
      privateKeyPem: privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
      publicJwk: { ...jwk, kid, alg: "RS256", use: "sig" },
      createdAt: new Date(),
    });
    return new AccessTokens(stored.kid, createPrivateKey(stored.privateKeyPem), stored.publicJwk, options);
  }

  sign(claims: AccessClaims): string {
    return jwt.sign({ ...claims }, this.privateKey, {
      algorithm: "RS256",
      keyid: this.kid,
      expiresIn: this.options.ttlSeconds,
      issuer: this.options.issuer,
      audience: this.options.audience,
    });
  }

  publicKeys(): Jwks {
    return this.jwks;
  }
}
