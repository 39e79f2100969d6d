import { z } from "zod";
import { endpoint } from "./endpoint.ts";
import { ClientInfo, Principal, SessionId, UserId } from "./identity.ts";
import { subject } from "./services.ts";

/**
 * A user's own account security, served by auth: their sessions (list, end one, end the others)
 * and two-factor login with TOTP (RFC 6238). The grant that completes an MFA login is `mfaGrant`
 * in `authCatalog`, beside the other grants.
 */
const s = (name: string) => subject("auth", 1, name);
const Actor = { actor: Principal };
const Empty = z.object({});

/** One live session of the caller, as `GET /api/v2/sessions` lists it. */
export const SessionInfo = z.object({
  id: SessionId,
  /** `v2`: JWT access + refresh tokens; `v1`: a seed 002 32-hex token. */
  api: z.enum(["v2", "v1"]),
  createdAt: z.iso.datetime(),
  /**
   * When the session last proved itself to auth: its login, a refresh (v2), or a lookup of its
   * token (v1, at most once a minute). Access tokens are checked by the gateways alone, so a v2
   * session in use is seen here at each refresh, not at each request.
   */
  lastUsedAt: z.iso.datetime(),
  /** null: lives until revoked (a persisted v1 session). */
  expiresAt: z.iso.datetime().nullable(),
  /** The `User-Agent` of the login request (null when it had none or the session predates this). */
  userAgent: z.string().nullable(),
  /** The client address of the login request, as the gateway saw it (behind `TRUST_PROXY`). */
  ipAddress: z.string().nullable(),
  /** True for the session of the token this request was made with. */
  current: z.boolean(),
});
export type SessionInfo = z.infer<typeof SessionInfo>;

/** A TOTP code as an authenticator app shows it: 6 digits (spaces are dropped before checking). */
export const TotpCode = z
  .string()
  .transform((v) => v.replace(/\s+/g, ""))
  .pipe(z.string().regex(/^[0-9]{6}$/, "must be 6 digits"));

/** A recovery code as shown at enrolment (`xxxx-xxxx-xxxx-xxxx`); case, spaces and dashes are ignored. */
export const RecoveryCode = z.string().min(1, "is required").max(64);

/** Either a current TOTP code or an unused recovery code (to turn two-factor login off). */
export const MfaCode = z.string().min(1, "is required").max(64);

/** What `POST /api/v2/me/mfa/totp` answers, once: the secret is never shown again. */
export const TotpEnrolment = z.object({
  /** The shared secret, base32 (RFC 4648), for typing into an app by hand. */
  secret: z.string(),
  /** `otpauth://totp/Trellis:<username>?secret=…&issuer=Trellis&algorithm=SHA1&digits=6&period=30`. */
  otpauthUri: z.string().regex(/^otpauth:\/\/totp\//),
  /** The same URI as a QR code: a `data:image/png;base64,…` URL. */
  qrCode: z.string().regex(/^data:image\/png;base64,/),
});
export type TotpEnrolment = z.infer<typeof TotpEnrolment>;

export const RECOVERY_CODE_COUNT = 10;
/** Shown once, when TOTP is confirmed: each works once instead of a TOTP code. */
export const RecoveryCodes = z.object({ recoveryCodes: z.array(z.string()).length(RECOVERY_CODE_COUNT) });

export const MfaStatus = z.object({
  totp: z.object({
    /** Logins ask for a code. */
    enabled: z.boolean(),
    /** Enrolment started and not confirmed yet. */
    pending: z.boolean(),
    enabledAt: z.iso.datetime().nullable(),
    recoveryCodesLeft: z.number().int().nonnegative(),
  }),
});
export type MfaStatus = z.infer<typeof MfaStatus>;

/** How an MFA login is completed. */
export const MfaMethod = z.enum(["totp", "recovery_code"]);

export const accountSecurityEndpoints = {
  listSessions: endpoint({
    subject: s("sessions.list"),
    request: z.object({ ...Actor }),
    reply: z.object({ items: z.array(SessionInfo) }),
    description: "The caller's live sessions, most recently used first; `current` marks the caller's own.",
  }),
  revokeSession: endpoint({
    subject: s("sessions.revoke"),
    request: z.object({ ...Actor, sessionId: z.string().max(64) }),
    reply: Empty,
    description:
      "Ends one of the caller's sessions (sessions_revoked reaches every gateway); not_found for another user's, an unknown or an ended one.",
  }),
  revokeSessions: endpoint({
    subject: s("sessions.revoke_many"),
    request: z.object({ ...Actor, keepCurrent: z.boolean() }),
    reply: z.object({ revoked: z.number().int().nonnegative() }),
    description: "Ends every session of the caller, or every one but the caller's own when keepCurrent.",
  }),
  mfaStatus: endpoint({
    subject: s("mfa.status"),
    request: z.object({ ...Actor }),
    reply: MfaStatus,
    description: "Whether the caller's two-factor login is on, pending, and how many recovery codes are left.",
  }),
  totpEnroll: endpoint({
    subject: s("mfa.totp.enroll"),
    request: z.object({ ...Actor }),
    reply: TotpEnrolment,
    description:
      "Starts (or restarts) TOTP enrolment: a new secret, its otpauth URI and QR code. Nothing changes at login until it is confirmed; conflict when TOTP is already on.",
  }),
  totpConfirm: endpoint({
    subject: s("mfa.totp.confirm"),
    request: z.object({ ...Actor, code: TotpCode, client: ClientInfo }),
    reply: RecoveryCodes,
    description:
      "Turns TOTP on with a first code of the pending secret and answers ten recovery codes, once. invalid_argument for a wrong code (counted like a failed login).",
  }),
  totpDisable: endpoint({
    subject: s("mfa.totp.disable"),
    request: z.object({ ...Actor, code: MfaCode, client: ClientInfo }),
    reply: Empty,
    description: "Turns TOTP off with a current code or a recovery code (counted like a failed login when wrong).",
  }),
  mfaReset: endpoint({
    subject: s("mfa.reset"),
    request: z.object({ ...Actor, userId: UserId }),
    reply: Empty,
    description: "Removes a user's two-factor login (admin): for a user who lost their device and codes.",
  }),
} as const;
