import type { AuthContext } from "../context.ts";
import type { AuthHandlers } from "./types.ts";

type SessionHandlers = Pick<
  AuthHandlers,
  "passwordGrant" | "refreshGrant" | "faceLogin" | "mfaGrant" | "logout" | "jwks" | "revokedSince"
>;

export function sessionHandlers(auth: AuthContext): SessionHandlers {
  return {
    async passwordGrant({ username, password, client }) {
      const user = await auth.logins.userByPassword(username, password, client);
      await auth.twoFactor.challengeIfEnrolled(user);
      return auth.sessionTokens.openV2(user, client);
    },

    refreshGrant({ refreshToken, client }) {
      return auth.sessionTokens.refresh(refreshToken, client);
    },

    async faceLogin({ username, encoding, pictureId, client }) {
      const user = await auth.logins.userByFace(username, encoding, pictureId ?? null, client);
      await auth.twoFactor.challengeIfEnrolled(user);
      return auth.sessionTokens.openV2(user, client);
    },

    async mfaGrant({ challenge, method, code, client }) {
      const user = await auth.twoFactor.complete(challenge, method, code, client);
      return auth.sessionTokens.openV2(user, client);
    },

    async logout({ sessionId }) {
      await auth.revocations.session(sessionId, "logout");
      return {};
    },

    jwks() {
      return auth.accessTokens.publicKeys();
    },

    async revokedSince({ since }) {
      return { sessionIds: await auth.sessions.revokedSince(new Date(since)) };
    },
  };
}
