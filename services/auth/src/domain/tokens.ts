import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/** Seed 002: a v1 token is 32 lowercase hexadecimal characters (16 random bytes). */
export const newV1Token = (): string => randomBytes(16).toString("hex");

/** A session id: 128 random bits, base64url (22 characters). */
export const newSessionId = (): string => randomBytes(16).toString("base64url");

/** The secret half of a refresh token: 256 random bits, base64url (43 characters). */
export const newRefreshSecret = (): string => randomBytes(32).toString("base64url");

/** Only this digest of a token or secret is stored. */
export const sha256Hex = (value: string): string => createHash("sha256").update(value, "utf8").digest("hex");

/** Constant-time equality of two strings (false when their lengths differ). */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, "utf8");
  const y = Buffer.from(b, "utf8");
  return x.length === y.length && timingSafeEqual(x, y);
}

export interface RefreshToken {
  sessionId: string;
  secret: string;
}

/** `<sessionId>.<secret>`: the session is found by its id, the secret is checked against its hash. */
export const formatRefreshToken = (token: RefreshToken): string => `${token.sessionId}.${token.secret}`;

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** The parts of a refresh token, or null when it is not one. */
export function parseRefreshToken(value: string): RefreshToken | null {
  const parts = value.split(".");
  if (parts.length !== 2) return null;
  const [sessionId, secret] = parts as [string, string];
  if (sessionId.length < 16 || sessionId.length > 64 || !BASE64URL.test(sessionId)) return null;
  if (secret.length !== 43 || !BASE64URL.test(secret)) return null;
  return { sessionId, secret };
}

/** The public members of an RSA or EC JWK that identify the key (RFC 7638 §3.2). */
export type PublicJwk = { kty: "RSA"; e: string; n: string } | { kty: "EC"; crv: string; x: string; y: string };

/** RFC 7638 thumbprint of a public JWK: a stable key id. */
export function jwkThumbprint(jwk: PublicJwk): string {
  // The required members only, in lexicographic order, no whitespace.
  const canonical =
    jwk.kty === "RSA"
      ? JSON.stringify({ e: jwk.e, kty: "RSA", n: jwk.n })
      : JSON.stringify({ crv: jwk.crv, kty: "EC", x: jwk.x, y: jwk.y });
  return createHash("sha256").update(canonical).digest("base64url");
}
