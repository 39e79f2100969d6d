import { createPublicKey, type KeyObject } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import { authCatalog, type SigningAlgorithm } from "@trellis/contracts";
import { request } from "@trellis/runtime";

/** A public key and the one algorithm tokens signed with it may use (from the JWKS, not the token). */
export interface VerificationKey {
  key: KeyObject;
  algorithm: SigningAlgorithm;
}

/**
 * The auth service's public keys, as `KeyObject`s by `kid` (jsonwebtoken verifies ~65x faster from
 * a KeyObject than from PEM text). Fetched at start; an unknown `kid` (key rotation) triggers at
 * most one refetch per `minRefetchMs`.
 */
export class SigningKeys {
  private keys = new Map<string, VerificationKey>();
  private lastFetch = 0;
  private inflight: Promise<void> | undefined;
  private readonly nc: NatsConnection;
  private readonly minRefetchMs: number;

  constructor(nc: NatsConnection, minRefetchMs = 10_000) {
    this.nc = nc;
    this.minRefetchMs = minRefetchMs;
  }

  get size(): number {
    return this.keys.size;
  }

  refresh(): Promise<void> {
    this.inflight ??= (async () => {
      try {
        const { keys } = await request(this.nc, authCatalog.jwks, {}, { timeoutMs: 3_000 });
        const next = new Map<string, VerificationKey>();
        for (const jwk of keys) {
          next.set(jwk.kid, { key: createPublicKey({ key: jwk as never, format: "jwk" }), algorithm: jwk.alg });
        }
        this.keys = next;
        this.lastFetch = Date.now();
      } finally {
        this.inflight = undefined;
      }
    })();
    return this.inflight;
  }

  /** The key for `kid`, refetching once if it is new to us; undefined when auth does not know it. */
  async get(kid: string): Promise<VerificationKey | undefined> {
    const key = this.keys.get(kid);
    if (key) return key;
    if (Date.now() - this.lastFetch < this.minRefetchMs) return undefined;
    await this.refresh();
    return this.keys.get(kid);
  }
}
