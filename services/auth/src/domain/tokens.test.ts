import { createHash } from "node:crypto";
import { isV1Token } from "@trellis/contracts";
import { describe, expect, it } from "vitest";
import {
  formatRefreshToken,
  jwkThumbprint,
  newRefreshSecret,
  newSessionId,
  newV1Token,
  parseRefreshToken,
  safeEqual,
  sha256Hex,
} from "./tokens.ts";

describe("v1 tokens", () => {
  it("are 32 lowercase hex characters, and differ", () => {
    const a = newV1Token();
    expect(a).toMatch(/^[0-9a-f]{32}$/);
    expect(isV1Token(a)).toBe(true);
    expect(newV1Token()).not.toBe(a);
  });

  it("recognizes only 32 lowercase hex characters", () => {
    expect(isV1Token("A".repeat(32))).toBe(false);
    expect(isV1Token("a".repeat(31))).toBe(false);
    expect(isV1Token("g".repeat(32))).toBe(false);
  });

  it("are stored as sha256 hex", () => {
    expect(sha256Hex("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });
});

describe("refresh tokens", () => {
  it("round-trip through format and parse", () => {
    const token = { sessionId: newSessionId(), secret: newRefreshSecret() };
    expect(token.sessionId).toHaveLength(22);
    expect(token.secret).toHaveLength(43);
    const text = formatRefreshToken(token);
    expect(text).toBe(`${token.sessionId}.${token.secret}`);
    expect(parseRefreshToken(text)).toEqual(token);
  });

  it("refuses anything else", () => {
    const sid = newSessionId();
    const secret = newRefreshSecret();
    for (const bad of [
      "",
      sid,
      `${sid}.`,
      `.${secret}`,
      `${sid}.${secret}.x`,
      `${sid}.${secret.slice(1)}`,
      `${sid}.${secret.slice(1)}+`,
      `short.${secret}`,
      `${sid}!.${secret}`,
    ]) {
      expect(parseRefreshToken(bad), bad).toBeNull();
    }
  });
});

describe("helpers", () => {
  it("compares in constant time, false on different lengths", () => {
    expect(safeEqual("abc", "abc")).toBe(true);
    expect(safeEqual("abc", "abd")).toBe(false);
    expect(safeEqual("abc", "abcd")).toBe(false);
  });

  it("computes the RFC 7638 thumbprint", () => {
    // RFC 7638 §3.1 example key.
    const n =
      "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
    expect(jwkThumbprint({ kty: "RSA", e: "AQAB", n })).toBe("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
  });

  it("computes the thumbprint of an EC key from crv, kty, x and y only", () => {
    // RFC 7517 appendix A.1 example EC key; the digest is of its canonical JSON (RFC 7638 §3.2).
    const jwk = {
      kty: "EC" as const,
      crv: "P-256",
      x: "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4",
      y: "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM",
    };
    const canonical = `{"crv":"P-256","kty":"EC","x":"${jwk.x}","y":"${jwk.y}"}`;
    const expected = createHash("sha256").update(canonical).digest("base64url");
    expect(jwkThumbprint(jwk)).toBe(expected);
    expect(jwkThumbprint({ ...jwk, y: jwk.x })).not.toBe(expected);
  });
});
