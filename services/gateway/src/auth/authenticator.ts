import type { NatsConnection } from "@nats-io/transport-node";
import { AccessClaims, authCatalog, isV1Token, type Principal, TrellisError, V1Token } from "@trellis/contracts";
import { request } from "@trellis/runtime";
import jwt from "jsonwebtoken";
import type { Revocations } from "./revocations.ts";
import type { SigningKeys } from "./signing-keys.ts";

export interface AuthenticatorOptions {
  issuer: string;
  audience: string;
  /** How long a resolved v1 token is trusted without asking auth again. */
  v1CacheMs: number;
  /** Bound on each token cache; the oldest entry goes first. */
  maxCachedTokens?: number;
}

interface VerifiedAccess {
  principal: Principal;
  expiresAtMs: number;
}

interface CachedV1 {
  principal: Principal;
  expiresAt: number | null;
  cachedAt: number;
}

/** Inserts into a Map used as a bounded cache: when full, the oldest entry makes room. */
function bounded<V>(map: Map<string, V>, key: string, value: V, max: number): void {
  if (map.size >= max) {
    const oldest = map.keys().next().value;
    if (oldest !== undefined) map.delete(oldest);
  }
  map.set(key, value);
}

const unauthenticated = (message: string) => new TrellisError("unauthenticated", message);

/**
 * Establishes who is calling. JWT access tokens are verified here, locally, against auth's public
 * keys: no request to auth per call. 32-hex v1 tokens are opaque, so auth resolves them, cached
 * for `v1CacheMs`. Both honour revocations the moment their event arrives.
 */
export class Authenticator {
  private readonly v1Cache = new Map<string, CachedV1>();
  /**
   * Access tokens whose signature and claims were already verified, until they expire. A client
   * sends the same token for minutes, and re-checking a signature each time was a third of
   * a request's cost. Expiry and revocation are still checked on every request.
   */
  private readonly verified = new Map<string, VerifiedAccess>();
  private readonly nc: NatsConnection;
  private readonly keys: SigningKeys;
  private readonly revocations: Revocations;
  private readonly options: AuthenticatorOptions;

  constructor(nc: NatsConnection, keys: SigningKeys, revocations: Revocations, options: AuthenticatorOptions) {
    this.nc = nc;
    this.keys = keys;
    this.revocations = revocations;
    this.options = options;
    revocations.onRevoked((ids) => {
      const gone = new Set(ids);
      for (const [token, entry] of this.v1Cache) if (gone.has(entry.principal.sessionId)) this.v1Cache.delete(token);
    });
  }

  /** False until the revocation list is synced: until then access tokens cannot be trusted (503). */
  get sessionsCheckable(): boolean {
    return this.revocations.ready;
  }

  /** Whether a session was revoked (logout, password change, deletion): long-lived streams re-check it. */
  isRevoked(sessionId: string): boolean {
    return this.revocations.has(sessionId);
  }

  /** `Authorization: Bearer <JWT | 32-hex v1 token>`. */
  async bearer(header: string | undefined, requestId: string): Promise<Principal> {
    if (!header) throw unauthenticated("missing bearer token");
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match?.[1]) throw unauthenticated("malformed Authorization header");
    const token = match[1];
    return isV1Token(token) ? this.v1(token, requestId) : this.accessToken(token);
  }

  private async accessToken(token: string): Promise<Principal> {
    if (!this.revocations.ready) {
      throw new TrellisError("unavailable", "sessions cannot be checked yet", {
        details: { service: "auth", retryAfterSeconds: 1 },
      });
    }
    const hit = this.verified.get(token);
    if (hit) {
      if (hit.expiresAtMs <= Date.now()) {
        this.verified.delete(token);
        throw unauthenticated("token expired");
      }
      if (this.revocations.has(hit.principal.sessionId)) throw unauthenticated("session revoked");
      return hit.principal;
    }
    const decoded = jwt.decode(token, { complete: true });
    const kid = decoded && typeof decoded === "object" ? decoded.header.kid : undefined;
    if (!kid) throw unauthenticated("invalid token");
    const key = await this.keys.get(kid);
    if (!key) throw unauthenticated("invalid token");
    let payload: unknown;
    try {
      payload = jwt.verify(token, key.key, {
        algorithms: [key.algorithm],
        issuer: this.options.issuer,
        audience: this.options.audience,
      });
    } catch (err) {
      throw unauthenticated(err instanceof jwt.TokenExpiredError ? "token expired" : "invalid token");
    }
    const claims = AccessClaims.safeParse(payload);
    if (!claims.success) throw unauthenticated("invalid token");
    if (this.revocations.has(claims.data.sid)) throw unauthenticated("session revoked");
    const principal: Principal = {
      kind: "user",
      userId: claims.data.sub,
      username: claims.data.name,
      role: claims.data.role,
      sessionId: claims.data.sid,
    };
    const exp = (payload as { exp?: number }).exp;
    if (typeof exp === "number") bounded(this.verified, token, { principal, expiresAtMs: exp * 1000 }, this.maxEntries);
    return principal;
  }

  /**
   * A seed 002 token. A value that is not 32-hex is a 400 in that API ("the token given was
   * invalid"); a well-formed one that is not a live session is a 401.
   */
  async v1(token: unknown, requestId: string): Promise<Principal> {
    const parsed = V1Token.safeParse(token);
    if (!parsed.success) throw new TrellisError("invalid_argument", "token is invalid");
    const now = Date.now();
    const cached = this.v1Cache.get(parsed.data);
    if (cached && now - cached.cachedAt < this.options.v1CacheMs) {
      if (cached.expiresAt !== null && cached.expiresAt <= now) throw unauthenticated("token expired");
      if (this.revocations.has(cached.principal.sessionId)) throw unauthenticated("session revoked");
      return cached.principal;
    }
    const resolved = await request(this.nc, authCatalog.v1Resolve, { token: parsed.data }, { requestId });
    if (this.revocations.has(resolved.principal.sessionId)) throw unauthenticated("session revoked");
    this.remember(parsed.data, { principal: resolved.principal, expiresAt: resolved.expiresAt, cachedAt: now });
    return resolved.principal;
  }

  private get maxEntries(): number {
    return this.options.maxCachedTokens ?? 10_000;
  }

  private remember(token: string, entry: CachedV1): void {
    bounded(this.v1Cache, token, entry, this.maxEntries);
  }

  /** Forget a token at once (its owner logged it out through this gateway). */
  forget(token: string): void {
    this.v1Cache.delete(token);
  }
}
