import { z } from "zod";
import { accountSecurityEndpoints, MfaMethod } from "./auth-security.ts";
import { endpoint, streamEndpoint } from "./endpoint.ts";
import { healthEndpoint } from "./health.ts";
import {
  ClientInfo,
  Email,
  FaceEncoding,
  MonitorId,
  PageCursor,
  PresentedPassword,
  Principal,
  Role,
  SessionId,
  UserId,
  Username,
  V1Token,
} from "./identity.ts";
import { subject } from "./services.ts";

const s = (name: string) => subject("auth", 1, name);

/** A user as other parties see it: never a hash, a token or an encoding. */
export const User = z.object({
  id: UserId,
  username: z.string(),
  email: z.string().nullable(),
  role: Role,
  createdAt: z.iso.datetime(),
  hasFaceEncoding: z.boolean(),
});
export type User = z.infer<typeof User>;

export const TokenPair = z.object({
  access_token: z.string(),
  token_type: z.literal("bearer"),
  expires_in: z.number().int().positive(),
  refresh_token: z.string(),
});
export type TokenPair = z.infer<typeof TokenPair>;

/**
 * How access tokens are signed: ES256 (P-256) for keys created now; RS256 keys stored by earlier
 * versions stay valid. Verifiers take the algorithm from the key, never from the token header.
 */
export const SigningAlgorithm = z.enum(["ES256", "RS256"]);
export type SigningAlgorithm = z.infer<typeof SigningAlgorithm>;

/** One public signing key in JWK form (RFC 7517). */
export const Jwk = z.looseObject({ kty: z.string(), kid: z.string(), alg: SigningAlgorithm, use: z.literal("sig") });
export const Jwks = z.object({ keys: z.array(Jwk) });
export type Jwks = z.infer<typeof Jwks>;

/** Claims of a Trellis access token (beside iss, aud, iat, exp). */
export const AccessClaims = z.object({
  sub: UserId,
  sid: SessionId,
  name: z.string(),
  role: Role,
});
export type AccessClaims = z.infer<typeof AccessClaims>;

/** `totp` / `recovery_code`: the second step of a two-factor login. */
export const LoginMethod = z.enum(["password", "face", "refresh", "totp", "recovery_code"]);
export const LoginLogEntry = z.object({
  at: z.iso.datetime(),
  method: LoginMethod,
  success: z.boolean(),
  clientAddress: z.string(),
  /** Seed 000: the resource that proved a login, e.g. the picture of a face login. */
  proofResourceId: z.string().nullable(),
});
export type LoginLogEntry = z.infer<typeof LoginLogEntry>;

const Actor = { actor: Principal };
const Empty = z.object({});

export const PasswordLogin = z.object({
  username: z.string().min(1).max(200),
  password: PresentedPassword,
  client: ClientInfo,
});

/** Seed 002 `owners/get`: one user's name, role and monitors. */
export const V1Owner = z.object({ username: z.string(), type: Role, monitor_ids: z.array(z.string()) });
export type V1Owner = z.infer<typeof V1Owner>;

export const authCatalog = {
  health: healthEndpoint("auth"),

  // --- users ---
  register: endpoint({
    subject: s("users.register"),
    request: z.object({
      username: Username,
      password: PresentedPassword,
      email: Email.optional(),
      role: Role.default("user"),
      /** Absent for self-registration; an admin creating an account otherwise. */
      actor: Principal.optional(),
    }),
    reply: User,
    description: "Creates a user (self-registration when open, or by an admin).",
  }),
  getUser: endpoint({
    subject: s("users.get"),
    request: z.object({ ...Actor, userId: UserId }),
    reply: User,
    description: "One user by id (self or admin).",
  }),
  getUserByUsername: endpoint({
    subject: s("users.get_by_username"),
    request: z.object({ ...Actor, username: z.string().min(1).max(200) }),
    reply: User,
    description: "One user by username, case-insensitively (self or admin).",
  }),
  getUsersBatch: endpoint({
    subject: s("users.batch"),
    request: z.object({ ...Actor, ids: z.array(z.string().max(64)).max(500) }),
    reply: z.object({ users: z.array(User.nullable()) }),
    description: "Users by id, in the order asked; unknown ids give null (admin).",
  }),
  listUsers: endpoint({
    subject: s("users.list"),
    request: z.object({
      ...Actor,
      limit: z.number().int().min(1).max(500).default(50),
      cursor: PageCursor.optional(),
    }),
    reply: z.object({ items: z.array(User), nextCursor: z.string().nullable() }),
    description: "Users ordered by creation, a page at a time (admin).",
  }),
  promote: endpoint({
    subject: s("users.promote"),
    request: z.object({ ...Actor, userId: UserId }),
    reply: User,
    description: "Makes a user an admin (admin).",
  }),
  deleteUser: endpoint({
    subject: s("users.delete"),
    request: z.object({ ...Actor, userId: UserId }),
    reply: Empty,
    description: "Deletes a user, ends their sessions and publishes user_deleted (admin or self).",
  }),
  setPassword: endpoint({
    subject: s("users.set_password"),
    request: z.object({
      ...Actor,
      userId: UserId,
      oldPassword: PresentedPassword.optional(),
      newPassword: PresentedPassword,
      /** The HTTP client: wrong old passwords count against it as failed logins do. */
      client: ClientInfo.optional(),
    }),
    reply: Empty,
    description:
      "Changes a password (the old one is required unless the actor is an admin); ends every session of the user.",
  }),
  loginLog: endpoint({
    subject: s("users.login_log"),
    request: z.object({ ...Actor, userId: UserId, limit: z.number().int().min(1).max(500).default(100) }),
    reply: z.object({ items: z.array(LoginLogEntry) }),
    description: "Recent login attempts of a user, newest first (self or admin).",
  }),
  setFaceEncoding: endpoint({
    subject: s("users.face.set"),
    request: z.object({ ...Actor, userId: UserId, encoding: FaceEncoding }),
    reply: Empty,
    description: "Stores or replaces a user's face encoding (self or admin).",
  }),
  getFaceEncoding: endpoint({
    subject: s("users.face.get"),
    request: z.object({ ...Actor, userId: UserId }),
    reply: z.object({ encoding: FaceEncoding, updatedAt: z.iso.datetime() }),
    description: "A user's face encoding (self or admin).",
  }),

  // --- sessions (modern) ---
  passwordGrant: endpoint({
    subject: s("sessions.password_grant"),
    request: PasswordLogin,
    reply: TokenPair,
    description: "OAuth2 password grant: a short-lived JWT and a rotating refresh token.",
  }),
  refreshGrant: endpoint({
    subject: s("sessions.refresh_grant"),
    request: z.object({ refreshToken: z.string().min(1).max(500), client: ClientInfo }),
    reply: TokenPair,
    description: "Rotates a refresh token; reusing a spent one revokes the whole session.",
  }),
  faceLogin: endpoint({
    subject: s("sessions.face_login"),
    request: z.object({
      username: z.string().min(1).max(200),
      encoding: FaceEncoding,
      pictureId: z.string().max(100).optional(),
      client: ClientInfo,
    }),
    reply: TokenPair,
    description: "Logs in by comparing a face encoding with the stored one (Euclidean tolerance).",
  }),
  mfaGrant: endpoint({
    subject: s("sessions.mfa_grant"),
    request: z.object({
      /** From the `mfa_required` error of the first step (`details.challenge`). */
      challenge: z.string().min(1).max(200),
      method: MfaMethod,
      code: z.string().min(1).max(64),
      client: ClientInfo,
    }),
    reply: TokenPair,
    description:
      "Completes a login that answered mfa_required: the challenge and a TOTP code (not reusable in its window) or a recovery code (usable once). Failures count like failed logins.",
  }),
  logout: endpoint({
    subject: s("sessions.logout"),
    request: z.object({ sessionId: SessionId }),
    reply: Empty,
    description: "Ends one session.",
  }),
  jwks: endpoint({
    subject: s("keys.jwks"),
    request: Empty,
    reply: Jwks,
    description: "Public keys that verify access tokens.",
  }),
  revokedSince: endpoint({
    subject: s("sessions.revoked_since"),
    request: z.object({ since: z.number().int().nonnegative() }),
    reply: z.object({ sessionIds: z.array(SessionId) }),
    description: "Sessions revoked since a time (ms), so a (re)connecting gateway can rebuild its deny-list.",
  }),

  // --- sessions (compatibility API, seed 002) ---
  v1LoginUser: endpoint({
    subject: s("v1.login_user"),
    request: PasswordLogin.extend({ persist: z.boolean().default(false) }),
    reply: z.object({ token: V1Token, username: z.string(), user_id: UserId }),
    description: "Seed 002 user login: a 32-hex token valid 4 h, or until logout when persist.",
  }),
  v1LoginMonitor: endpoint({
    subject: s("v1.login_monitor"),
    request: z.object({
      monitorId: MonitorId,
      password: PresentedPassword,
      persist: z.boolean().default(false),
      client: ClientInfo,
    }),
    reply: z.object({ token: V1Token }),
    description: "Seed 002 monitor login.",
  }),
  v1Resolve: endpoint({
    subject: s("v1.resolve"),
    request: z.object({ token: V1Token }),
    reply: z.object({ principal: Principal, expiresAt: z.number().int().nullable() }),
    description: "Who a 32-hex token belongs to (unauthenticated when invalid or expired).",
  }),
  v1Logout: endpoint({
    subject: s("v1.logout"),
    request: z.object({ kind: z.enum(["user", "monitor"]), id: z.string().max(64), token: V1Token }),
    reply: Empty,
    description: "Ends the session of a token that must belong to the given user or monitor.",
  }),
  v1Verify: endpoint({
    subject: s("v1.verify"),
    request: z.object({ kind: z.enum(["user", "monitor"]), id: z.string().max(64), token: z.string().max(200) }),
    reply: z.object({ valid: z.boolean() }),
    description: "Whether a token is a live session of the given user or monitor.",
  }),
  v1Owners: endpoint({
    subject: s("v1.owners"),
    request: z.object({ ...Actor, userId: UserId }),
    reply: z.record(UserId, V1Owner),
    description: "Seed 002 owners/get data of one user (self or admin), keyed by its id.",
  }),
  v1OwnersAll: streamEndpoint({
    subject: s("v1.owners.all"),
    request: z.object({ ...Actor }),
    meta: z.object({}),
    contentType: "application/json",
    description:
      "Seed 002 owners/get for an admin: every user keyed by id, `V1Owner` each, as a JSON stream (it grows with the users).",
  }),

  // --- monitor credentials (kept here; monitors themselves belong to telemetry) ---
  setMonitorCredentials: endpoint({
    subject: s("monitors.credentials.set"),
    request: z.object({ ...Actor, monitorId: MonitorId, ownerId: UserId, password: PresentedPassword }),
    reply: Empty,
    description:
      "Creates a monitor's credentials (admin); conflict when the id exists, invalid when the owner does not.",
  }),
  deleteMonitorCredentials: endpoint({
    subject: s("monitors.credentials.delete"),
    request: z.object({ ...Actor, monitorId: MonitorId }),
    reply: z.object({ deleted: z.boolean() }),
    description: "Removes a monitor's credentials and ends its sessions (admin).",
  }),

  // --- sessions of a user and two-factor login (auth-security.ts) ---
  ...accountSecurityEndpoints,
} as const;

/** Durable events of the auth service, captured by the AUTH_EVENTS JetStream stream. */
export const AUTH_EVENTS_STREAM = "AUTH_EVENTS";
export const authEvents = {
  userDeleted: {
    subject: s("events.user_deleted"),
    schema: z.object({ userId: UserId, at: z.iso.datetime() }),
  },
  sessionsRevoked: {
    subject: s("events.sessions_revoked"),
    schema: z.object({
      sessionIds: z.array(SessionId),
      reason: z.enum(["logout", "password_reset", "user_deleted", "refresh_reuse", "monitor_deleted"]),
      at: z.iso.datetime(),
    }),
  },
} as const;
export type UserDeleted = z.infer<typeof authEvents.userDeleted.schema>;
export type SessionsRevoked = z.infer<typeof authEvents.sessionsRevoked.schema>;
export const AUTH_EVENTS_SUBJECTS = s("events.>");
