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

    async revokeSession({ actor, sessionId }) {
      const caller = requireUser(actor);
      // Another user's session is "not found", like an unknown one: ids are not confirmed to exist.
      if (!(await auth.revocations.sessionOfUser(sessionId, caller.userId, "logout"))) {
        throw new TrellisError("not_found", "session not found");
      }
      return {};
    },

    async revokeSessions({ actor, keepCurrent }) {
      const caller = requireUser(actor);
      const revoked = await auth.revocations.allOfUser(
        caller.userId,
        "logout",
        keepCurrent ? caller.sessionId : undefined,
      );
      return { revoked };
    },

    async mfaStatus({ actor }) {
      return auth.twoFactor.status(requireUser(actor).userId);
    },

    async totpEnroll({ actor }) {
      return auth.twoFactor.enroll(await userOf(requireUser(actor).userId));
    },

    async totpConfirm({ actor, code, client }) {
      return { recoveryCodes: await auth.twoFactor.confirm(requireUser(actor).userId, code, client) };
    },

    async totpDisable({ actor, code, client }) {
      await auth.twoFactor.disable(requireUser(actor).userId, code, client);
      return {};
    },

    async mfaReset({ actor, userId }) {
      requireAdmin(actor);
      await userOf(userId);
      await auth.twoFactor.reset(userId);
      return {};
    },
  };
}
