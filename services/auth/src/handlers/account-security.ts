import { type SessionInfo, TrellisError } from "@trellis/contracts";
import type { AuthContext } from "../context.ts";
import { requireAdmin, requireUser } from "../domain/authorization.ts";
import type { AuthHandlers } from "./types.ts";

type AccountSecurityHandlers = Pick<
  AuthHandlers,
  | "listSessions"
  | "revokeSession"
  | "revokeSessions"
  | "mfaStatus"
  | "totpEnroll"
  | "totpConfirm"
  | "totpDisable"
  | "mfaReset"
>;

/** A user's own sessions and two-factor login; an admin's reset of someone else's. */
export function accountSecurityHandlers(auth: AuthContext): AccountSecurityHandlers {
  const userOf = async (userId: string) => {
    const user = await auth.users.findById(userId);
    if (!user) throw new TrellisError("not_found", "user not found");
    return user;
  };

  return {
    async listSessions({ actor }) {
      const caller = requireUser(actor);
      const sessions = await auth.sessions.liveOfUser(caller.userId, new Date());
      const items: SessionInfo[] = sessions.map((s) => ({
        id: s._id,
        api: s.flavor,
        createdAt: s.createdAt.toISOString(),
        lastUsedAt: (s.lastUsedAt ?? s.createdAt).toISOString(),
        expiresAt: s.expiresAt === null ? null : s.expiresAt.toISOString(),
        userAgent: s.userAgent ?? null,
        ipAddress: s.clientAddress ?? null,
        current: s._id === caller.sessionId,
      }));
      return { items };
    },

    async revokeSession({ actor, sessionId }, ctx) {
      const caller = requireUser(actor);
      // Another user's session is "not found", like an unknown one: ids are not confirmed to exist.
      if (!(await auth.revocations.sessionOfUser(sessionId, caller.userId, "logout"))) {
        throw new TrellisError("not_found", "session not found");
      }
      ctx.log.info({ userId: caller.userId, sessionId }, "session ended by its user");
      return {};
    },

    async revokeSessions({ actor, keepCurrent }, ctx) {
      const caller = requireUser(actor);
      const revoked = await auth.revocations.allOfUser(
        caller.userId,
        "logout",
        keepCurrent ? caller.sessionId : undefined,
      );
      ctx.log.info({ userId: caller.userId, revoked, keepCurrent }, "sessions ended by their user");
      return { revoked };
    },

    async mfaStatus({ actor }) {
      return auth.twoFactor.status(requireUser(actor).userId);
    },

    async totpEnroll({ actor }) {
      return auth.twoFactor.enroll(await userOf(requireUser(actor).userId));
    },

    async totpConfirm({ actor, code, client }, ctx) {
      const { userId } = requireUser(actor);
      const recoveryCodes = await auth.twoFactor.confirm(userId, code, client);
      ctx.log.info({ userId }, "two-factor login turned on");
      return { recoveryCodes };
    },

    async totpDisable({ actor, code, client }, ctx) {
      const { userId } = requireUser(actor);
      await auth.twoFactor.disable(userId, code, client);
      ctx.log.info({ userId }, "two-factor login turned off");
      return {};
    },

    async mfaReset({ actor, userId }, ctx) {
      const admin = requireAdmin(actor);
      await userOf(userId);
      const had = await auth.twoFactor.reset(userId);
      ctx.log.info({ userId, by: admin.userId, had }, "two-factor login reset by an admin");
      return {};
    },
  };
}
