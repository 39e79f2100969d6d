import { randomUUID } from "node:crypto";
import { authEvents, TrellisError, UserId } from "@trellis/contracts";
import type { AuthContext } from "../context.ts";
import { isAdmin, requireAdmin, requireMayRegister, requireSelfOrAdmin, requireUser } from "../domain/authorization.ts";
import { decodeCursor, encodeCursor } from "../domain/cursor.ts";
import { assertPasswordPolicy } from "../domain/password-policy.ts";
import type { UserDoc } from "../store/users.ts";
import type { AuthHandlers } from "./types.ts";
import { userView } from "./user-view.ts";

const userNotFound = () => new TrellisError("not_found", "user not found");

type UserHandlers = Pick<
  AuthHandlers,
  | "register"
  | "getUser"
  | "getUserByUsername"
  | "getUsersBatch"
  | "listUsers"
  | "promote"
  | "deleteUser"
  | "setPassword"
  | "loginLog"
  | "setFaceEncoding"
  | "getFaceEncoding"
>;

export function userHandlers(auth: AuthContext): UserHandlers {
  const { users } = auth;

  /** Authorization first (no enumeration for non-admins), then existence. */
  const targetFor = async (actor: Parameters<typeof requireSelfOrAdmin>[0], userId: string): Promise<UserDoc> => {
    requireSelfOrAdmin(actor, userId);
    const user = await users.findById(userId);
    if (!user) throw userNotFound();
    return user;
  };

  return {
    async register({ username, password, email, role, actor }) {
      requireMayRegister(actor, role, auth.config.REGISTRATION);
      assertPasswordPolicy(password, { username });
      const result = await users.create({
        id: randomUUID(),
        username,
        email: email ?? null,
        role,
        passwordHash: await auth.passwords.hash(password),
        createdAt: new Date(),
      });
      if (!result.ok) {
        throw new TrellisError(
          "conflict",
          result.taken === "email" ? "email is already registered" : "username is taken",
        );
      }
      return userView(result.user);
    },

    async getUser({ actor, userId }) {
      return userView(await targetFor(actor, userId));
    },

    async getUserByUsername({ actor, username }) {
      const caller = requireUser(actor);
      const user = await users.findByUsername(username);
      if (isAdmin(caller)) {
        if (!user) throw userNotFound();
        return userView(user);
      }
      if (!user || user._id !== caller.userId) throw new TrellisError("forbidden", "not allowed");
      return userView(user);
    },

    async getUsersBatch({ actor, ids }) {
      requireAdmin(actor);
      const valid = ids.filter((id) => UserId.safeParse(id).success);
      const found = new Map((await users.findByIds([...new Set(valid)])).map((u) => [u._id, u]));
      return { users: ids.map((id) => (found.has(id) ? userView(found.get(id) as UserDoc) : null)) };
    },

    async listUsers({ actor, limit, cursor }) {
      requireAdmin(actor);
      const after = cursor === undefined ? null : decodeCursor(cursor);
      const page = await users.page(limit + 1, after);
      const items = page.slice(0, limit);
      const last = items.at(-1);
      return {
        items: items.map(userView),
        nextCursor: page.length > limit && last ? encodeCursor({ createdAt: last.createdAt, id: last._id }) : null,
      };
    },

    async promote({ actor, userId }) {
      requireAdmin(actor);
      const user = await users.setRole(userId, "admin");
      if (!user) throw userNotFound();
      return userView(user);
    },

    async deleteUser({ actor, userId }) {
      await targetFor(actor, userId);
      // Sessions end first, so nothing keeps working for the account while the rest is removed.
      await auth.revocations.allOfUser(userId, "user_deleted");
      for (const monitorId of await auth.monitors.idsOfOwner(userId)) {
        await auth.monitors.delete(monitorId);
        await auth.revocations.allOfMonitor(monitorId, "monitor_deleted");
      }
      // Published before the user document goes: a retry after a failure below publishes again
      // (deduplicated by the message id) instead of finding nothing and losing the event.
      await auth.events.publish(
        authEvents.userDeleted,
        { userId, at: new Date().toISOString() },
        `user-deleted:${userId}`,
      );
      await auth.loginLog.deleteForUser(userId);
      await auth.twoFactor.reset(userId);
      await users.delete(userId);
      return {};
    },

    async setPassword({ actor, userId, oldPassword, newPassword, client: httpClient }) {
      const caller = requireSelfOrAdmin(actor, userId);
      const user = await targetFor(caller, userId);
      if (!isAdmin(caller)) {
        // Without a client address (a caller other than the gateway), the session stands in for it.
        const client = httpClient?.address ?? `session:${caller.sessionId}`;
        const ok = oldPassword !== undefined && (await auth.logins.confirmPassword(user, oldPassword, client));
        if (!ok) throw new TrellisError("invalid_argument", "old password is incorrect");
      }
      assertPasswordPolicy(newPassword, { username: user.username });
      if (!(await users.setPasswordHash(userId, await auth.passwords.hash(newPassword)))) throw userNotFound();
      await auth.revocations.allOfUser(userId, "password_reset");
      return {};
    },

    async loginLog({ actor, userId, limit }) {
      await targetFor(actor, userId);
      const entries = await auth.loginLog.forUser(userId, limit);
      return {
        items: entries.map((e) => ({
          at: e.at.toISOString(),
          method: e.method,
          success: e.success,
          clientAddress: e.clientAddress,
          proofResourceId: e.proofResourceId,
        })),
      };
    },

    async setFaceEncoding({ actor, userId, encoding }) {
      requireSelfOrAdmin(actor, userId);
      if (!(await users.setFaceEncoding(userId, encoding, new Date()))) throw userNotFound();
      return {};
    },

    async getFaceEncoding({ actor, userId }) {
      const user = await targetFor(actor, userId);
      if (!user.faceEncoding || !user.faceUpdatedAt) throw new TrellisError("not_found", "no face encoding stored");
      return { encoding: user.faceEncoding, updatedAt: user.faceUpdatedAt.toISOString() };
    },
  };
}
