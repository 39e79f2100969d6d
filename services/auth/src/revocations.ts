import { authEvents, type SessionsRevoked } from "@trellis/contracts";
import type { EventPublisher } from "@trellis/runtime";
import type { SessionsStore } from "./store/sessions.ts";

const EVENT_CHUNK = 1_000;

export type RevocationReason = SessionsRevoked["reason"];

/**
 * Ends sessions and tells the gateways at once (`sessions_revoked`), so a revoked access token is
 * refused before it expires.
 */
export class Revocations {
  private readonly sessions: SessionsStore;
  private readonly events: EventPublisher;

  constructor(sessions: SessionsStore, events: EventPublisher) {
    this.sessions = sessions;
    this.events = events;
  }

  /** Idempotent: a session already revoked (or unknown) publishes nothing. */
  async session(sessionId: string, reason: RevocationReason): Promise<void> {
    const at = new Date();
    if (await this.sessions.revoke(sessionId, at)) await this.publish([sessionId], reason, at);
  }

  /** Every session of the user, but `exceptSessionId` when given; returns how many ended. */
  async allOfUser(userId: string, reason: RevocationReason, exceptSessionId?: string): Promise<number> {
    const at = new Date();
    const ids = await this.sessions.revokeAllOfUser(userId, at, exceptSessionId);
    await this.publish(ids, reason, at);
    return ids.length;
  }

  /** One live session, only if it is this user's; false otherwise (nothing published). */
  async sessionOfUser(sessionId: string, userId: string, reason: RevocationReason): Promise<boolean> {
    const at = new Date();
    if (!(await this.sessions.revokeOfUser(sessionId, userId, at))) return false;
    await this.publish([sessionId], reason, at);
    return true;
  }

  async allOfMonitor(monitorId: string, reason: RevocationReason): Promise<void> {
    const at = new Date();
    await this.publish(await this.sessions.revokeAllOfMonitor(monitorId, at), reason, at);
  }

  private async publish(sessionIds: string[], reason: RevocationReason, at: Date): Promise<void> {
    // Chunked so a user with very many sessions stays far below the NATS payload limit.
    for (let i = 0; i < sessionIds.length; i += EVENT_CHUNK) {
      const chunk = sessionIds.slice(i, i + EVENT_CHUNK);
      await this.events.publish(authEvents.sessionsRevoked, { sessionIds: chunk, reason, at: at.toISOString() });
    }
  }
}
