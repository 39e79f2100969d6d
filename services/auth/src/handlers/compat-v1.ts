import { isV1Token, type Principal, TrellisError, type V1Owner } from "@trellis/contracts";
import type { AuthContext } from "../context.ts";
import { isSelfOrAdmin, requireAdmin, requireUser } from "../domain/authorization.ts";
import type { V1Session } from "../store/sessions.ts";
import type { AuthHandlers } from "./types.ts";

type CompatHandlers = Pick<
  AuthHandlers,
  "v1LoginUser" | "v1LoginMonitor" | "v1Resolve" | "v1Logout" | "v1Verify" | "v1Owners" | "v1OwnersAll"
>;

/** Users per page of the all-owners stream (one monitor query per page). */
const OWNERS_PAGE = 500;

const belongsTo = (session: V1Session, kind: "user" | "monitor", id: string): boolean =>
  kind === "user"
    ? session.kind === "user" && session.userId === id
    : session.kind === "monitor" && session.monitorId === id.toLowerCase();

/** Seed 002, the Altoponix API: 32-hex session tokens for users and monitors. */
export function compatV1Handlers(auth: AuthContext): CompatHandlers {
  return {
    async v1LoginUser({ username, password, persist, client }) {
      const user = await auth.logins.userByPassword(username, password, client);
      // Seed 002 clients know nothing of a second factor: such accounts log in with the v2 API only.
      if (await auth.twoFactor.isEnabled(user._id)) {
        throw new TrellisError(
          "unauthenticated",
          "two-factor login is on for this account: log in with POST /api/v2/auth/token",
        );
      }
      const token = await auth.sessionTokens.openV1ForUser(user, persist, client);
      return { token, username: user.username, user_id: user._id };
    },

    async v1LoginMonitor({ monitorId, password, persist, client }) {
      const monitor = await auth.logins.monitorByPassword(monitorId, password, client);
      return { token: await auth.sessionTokens.openV1ForMonitor(monitor, persist, client) };
    },

    async v1Resolve({ token }) {
      const invalid = () => new TrellisError("unauthenticated", "token is invalid or expired");
      const session = await auth.sessionTokens.liveV1(token);
      if (!session) throw invalid();
      let principal: Principal;
      if (session.kind === "user") {
        const user = await auth.users.findById(session.userId);
        if (!user) throw invalid();
        principal = {
          kind: "user",
          userId: user._id,
          username: user.username,
          role: user.role,
          sessionId: session._id,
        };
      } else {
        principal = { kind: "monitor", monitorId: session.monitorId, ownerId: session.ownerId, sessionId: session._id };
      }
      return { principal, expiresAt: session.expiresAt === null ? null : session.expiresAt.getTime() };
    },

    async v1Logout({ kind, id, token }) {
      const session = await auth.sessionTokens.liveV1(token);
      if (!session || !belongsTo(session, kind, id)) throw new TrellisError("unauthenticated", "invalid credentials");
      await auth.revocations.session(session._id, "logout");
      return {};
    },

    async v1Verify({ kind, id, token }) {
      if (!isV1Token(token)) return { valid: false };
      const session = await auth.sessionTokens.liveV1(token);
      return { valid: session !== null && belongsTo(session, kind, id) };
    },

    async v1Owners({ actor, userId }) {
      const caller = requireUser(actor);
      if (!isSelfOrAdmin(caller, userId)) throw new TrellisError("forbidden", "not allowed");
      const user = await auth.users.findById(userId);
      if (!user) throw new TrellisError("invalid_argument", `The user_id ${userId} given was invalid`);
      const monitorIds = await auth.monitors.idsOfOwner(userId);
      return { [user._id]: { username: user.username, type: user.role, monitor_ids: monitorIds } };
    },

    /** Every user, a page at a time through a cursor, written as the receiver asks for more. */
    async v1OwnersAll({ actor }) {
      requireAdmin(requireUser(actor));
      async function* body(): AsyncGenerator<string> {
        yield "{";
        let first = true;
        for await (const page of auth.users.pagesOfBrief(OWNERS_PAGE)) {
          const monitorsByOwner = await auth.monitors.idsByOwner(page.map((u) => u._id));
          let out = "";
          for (const u of page) {
            const owner: V1Owner = {
              username: u.username,
              type: u.role,
              monitor_ids: monitorsByOwner.get(u._id) ?? [],
            };
            out += `${first ? "" : ","}${JSON.stringify(u._id)}:${JSON.stringify(owner)}`;
            first = false;
          }
          yield out;
        }
        yield "}";
      }
      return { meta: {}, body: body() };
    },
  };
}
