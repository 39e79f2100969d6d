import type { EventPublisher } from "@trellis/runtime";
import type { AccessTokens } from "./access-tokens.ts";
import type { AuthConfig } from "./config.ts";
import type { Logins } from "./logins.ts";
import type { PasswordHasher } from "./passwords.ts";
import type { Revocations } from "./revocations.ts";
import type { SessionTokens } from "./session-tokens.ts";
import type { LoginLogStore } from "./store/login-log.ts";
import type { MonitorCredentialsStore } from "./store/monitor-credentials.ts";
import type { SessionsStore } from "./store/sessions.ts";
import type { UsersStore } from "./store/users.ts";
import type { TwoFactor } from "./two-factor.ts";

/** Everything the handlers work with, assembled once in main.ts. */
export interface AuthContext {
  config: AuthConfig;
  users: UsersStore;
  sessions: SessionsStore;
  monitors: MonitorCredentialsStore;
  loginLog: LoginLogStore;
  passwords: PasswordHasher;
  logins: Logins;
  sessionTokens: SessionTokens;
  accessTokens: AccessTokens;
  revocations: Revocations;
  events: EventPublisher;
  twoFactor: TwoFactor;
}
