import { type ClientInfo, type TokenPair, TrellisError } from "@trellis/contracts";
import type { AccessTokens } from "./access-tokens.ts";
import {
  formatRefreshToken,
  newRefreshSecret,
  newSessionId,
  newV1Token,
  parseRefreshToken,
  safeEqual,
  sha256Hex,
} from "./domain/tokens.ts";
import type { Revocations } from "./revocations.ts";
import type { LoginLogStore } from "./store/login-log.ts";
import type { MonitorCredentialDoc } from "./store/monitor-credentials.ts";
import {
  isLive,
  type SessionsStore,
  type V1MonitorSession,
  type V1Session,
  type V1UserSession,
} from "./store/sessions.ts";
import type { UserDoc, UsersStore } from "./store/users.ts";

export interface SessionTokensDeps {
  sessions: SessionsStore;
  users: UsersStore;
  loginLog: LoginLogStore;
  accessTokens: AccessTokens;
  revocations: Revocations;
  refreshTtlSeconds: number;
  v1TtlSeconds: number;
}

/** How stale a v1 session's `lastUsedAt` may get before a lookup of its token writes it again. */
const TOUCH_INTERVAL_MS = 60_000;

/** Where a session was opened from, for the user's list of sessions. */
const origin = (client: ClientInfo, now: number) => ({
  userAgent: client.userAgent ?? null,
  clientAddress: client.address,
  lastUsedAt: new Date(now),
});

const invalidRefreshToken = () => new TrellisError("unauthenticated", "invalid refresh token");

/** Opens sessions and hands out their tokens; only digests of secrets reach the database. */
export class SessionTokens {
  private readonly deps: SessionTokensDeps;

  constructor(deps: SessionTokensDeps) {
    this.deps = deps;
  }

  /** A new v2 session: a short-lived JWT naming it, and its first refresh token. */
  async openV2(user: UserDoc, client: ClientInfo): Promise<TokenPair> {
    const now = Date.now();
    const sessionId = newSessionId();
    const secret = newRefreshSecret();
    await this.deps.sessions.insert({
      _id: sessionId,
      kind: "user",
      flavor: "v2",
      userId: user._id,
      refreshHash: sha256Hex(secret),
      refreshGeneration: 0,
      ...origin(client, now),
      createdAt: new Date(now),
      expiresAt: new Date(now + this.deps.refreshTtlSeconds * 1000),
      revokedAt: null,
    });
    return this.pair(user, sessionId, secret);
  }

  /**
   * Rotates a refresh token. Presenting a spent one means it leaked (or a client raced itself):
   * the whole session is revoked.
   */
  async refresh(refreshToken: string, client: ClientInfo): Promise<TokenPair> {
    const now = new Date();
    const parsed = parseRefreshToken(refreshToken);
    const session = parsed ? await this.deps.sessions.findById(parsed.sessionId) : null;
    // A failure is filed under the session's user only while that user exists: entries of a
    // deleted user (whose revoked sessions linger a day) would be orphans.
    const log = async (userId: string | null, success: boolean) => {
      const known = userId !== null && (await this.deps.users.findById(userId)) !== null;
      await this.deps.loginLog.record({
        at: new Date(),
        userId: known ? userId : null,
        usernameLower: null,
        method: "refresh",
        success,
        clientAddress: client.address,
        proofResourceId: null,
      });
    };

    if (!parsed || !session || session.flavor !== "v2") {
      await log(null, false);
      throw invalidRefreshToken();
    }
    if (!isLive(session, now)) {
      await log(session.userId, false);
      throw invalidRefreshToken();
    }
    const presented = sha256Hex(parsed.secret);
    const nextSecret = newRefreshSecret();
    const rotated = safeEqual(presented, session.refreshHash)
      ? await this.deps.sessions.rotateRefresh(
          session._id,
          presented,
          sha256Hex(nextSecret),
          new Date(now.getTime() + this.deps.refreshTtlSeconds * 1000),
          now,
        )
      : null;
    if (!rotated) {
      await this.deps.revocations.session(session._id, "refresh_reuse");
      await log(session.userId, false);
      throw invalidRefreshToken();
    }
    const user = await this.deps.users.findById(session.userId);
    if (!user) {
      await this.deps.revocations.session(session._id, "user_deleted");
      await log(session.userId, false);
      throw invalidRefreshToken();
    }
    await this.deps.loginLog.record({
      at: new Date(),
      userId: user._id,
      usernameLower: user.usernameLower,
      method: "refresh",
      success: true,
      clientAddress: client.address,
      proofResourceId: null,
    });
    return this.pair(user, session._id, nextSecret);
  }

  /** A seed 002 session for a user: 4 h, or until logout / password reset when `persist`. */
  openV1ForUser(user: UserDoc, persist: boolean, client: ClientInfo): Promise<string> {
    return this.openV1({ kind: "user", userId: user._id }, persist, client);
  }

  openV1ForMonitor(monitor: MonitorCredentialDoc, persist: boolean, client: ClientInfo): Promise<string> {
    return this.openV1({ kind: "monitor", monitorId: monitor._id, ownerId: monitor.ownerId }, persist, client);
  }

  /** A seed 002 session of `subject` (a user, or a monitor and its owner); answers its token. */
  private async openV1(
    subject: Pick<V1UserSession, "kind" | "userId"> | Pick<V1MonitorSession, "kind" | "monitorId" | "ownerId">,
    persist: boolean,
    client: ClientInfo,
  ): Promise<string> {
    const token = newV1Token();
    const now = Date.now();
    await this.deps.sessions.insert({
      _id: newSessionId(),
      flavor: "v1",
      ...subject,
      tokenHash: sha256Hex(token),
      ...origin(client, now),
      createdAt: new Date(now),
      expiresAt: this.v1Expiry(now, persist),
      revokedAt: null,
    });
    return token;
  }

  /** The live session of a v1 token, or null (unknown, expired or revoked). */
  async liveV1(token: string): Promise<V1Session | null> {
    const hash = sha256Hex(token);
    const session = await this.deps.sessions.findV1ByTokenHash(hash);
    const now = new Date();
    if (!session || !safeEqual(session.tokenHash, hash) || !isLive(session, now)) return null;
    // Gateways cache a resolved token for a while, so this runs far less often than requests.
    // Not awaited: a lost write only makes `lastUsedAt` older, and must not slow or fail the lookup.
    this.deps.sessions.touch(session._id, now, TOUCH_INTERVAL_MS).catch(() => undefined);
    return session;
  }

  private v1Expiry(now: number, persist: boolean): Date | null {
    return persist ? null : new Date(now + this.deps.v1TtlSeconds * 1000);
  }

  private pair(user: UserDoc, sessionId: string, secret: string): TokenPair {
    const access_token = this.deps.accessTokens.sign({
      sub: user._id,
      sid: sessionId,
      name: user.username,
      role: user.role,
    });
    return {
      access_token,
      token_type: "bearer",
      expires_in: this.deps.accessTokens.ttlSeconds,
      refresh_token: formatRefreshToken({ sessionId, secret }),
    };
  }
}
