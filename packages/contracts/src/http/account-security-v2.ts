import { z } from "zod";
import { MfaStatus, RecoveryCodes, SessionInfo, TotpEnrolment } from "../auth-security.ts";
import { UserId } from "../identity.ts";
import { authErrors, ErrorResponse } from "./errors-http.ts";
import { route } from "./route.ts";

/**
 * The grants that complete a two-factor login at `POST /api/v2/auth/token`, in the shape of
 * Auth0's MFA grants (`mfa_token` is called `challenge` here, as in the `mfa_required` error).
 */
export const MFA_OTP_GRANT = "urn:trellis:params:oauth:grant-type:mfa-otp";
export const MFA_RECOVERY_CODE_GRANT = "urn:trellis:params:oauth:grant-type:mfa-recovery-code";
const Challenge = z.string().min(1).max(200).describe("`details.challenge` of the `mfa_required` error.");
export const MfaGrantRequests = [
  z.object({
    grant_type: z.literal(MFA_OTP_GRANT),
    challenge: Challenge,
    otp: z.string().min(1).max(20).describe("The current 6-digit code of the authenticator app."),
  }),
  z.object({
    grant_type: z.literal(MFA_RECOVERY_CODE_GRANT),
    challenge: Challenge,
    recovery_code: z.string().min(1).max(64).describe("One of the ten recovery codes; each works once."),
  }),
] as const;

const sessionTags = ["sessions"];
const mfaTags = ["two-factor"];
const noContent = { 204: { description: "Done." } } as const;
const tooMany = {
  429: { description: "Too many wrong codes; retry after `Retry-After`.", schema: ErrorResponse },
} as const;

export const sessionsV2Routes = {
  list: route({
    method: "get",
    path: "/api/v2/sessions",
    operationId: "listSessions",
    summary: "The caller's live sessions (v2 logins and v1 tokens), most recently used first.",
    tags: sessionTags,
    auth: "bearer",
    responses: {
      200: {
        description: "Sessions; `current` marks the one of this token.",
        schema: z.object({ items: z.array(SessionInfo) }),
      },
      ...authErrors,
    },
  }),
  revoke: route({
    method: "delete",
    path: "/api/v2/sessions/:id",
    operationId: "revokeSession",
    summary:
      "End one of the caller's sessions: its refresh token stops at once and its access tokens are refused by every gateway within the revocation bound (about a second).",
    tags: sessionTags,
    auth: "bearer",
    params: z.object({ id: z.string().min(1).max(64) }),
    responses: {
      ...noContent,
      404: {
        description: "No live session of the caller has this id (another user's included).",
        schema: ErrorResponse,
      },
      ...authErrors,
    },
  }),
  revokeMany: route({
    method: "delete",
    path: "/api/v2/sessions",
    operationId: "revokeSessions",
    summary:
      'End every session of the caller but this one ("sign out other devices"). `others=true` is required, so that no request ends them by accident; to end this one too, `POST /api/v2/auth/logout` after it.',
    tags: sessionTags,
    auth: "bearer",
    query: z.object({
      others: z.literal("true").describe("Must be `true`: every session but the current one ends."),
    }),
    responses: {
      200: {
        description: "How many sessions ended.",
        schema: z.object({ revoked: z.number().int().nonnegative() }),
      },
      ...authErrors,
    },
  }),
} as const;

const codeBody = (description: string) => z.object({ code: z.string().min(1).max(64).describe(description) });

export const mfaV2Routes = {
  status: route({
    method: "get",
    path: "/api/v2/me/mfa",
    operationId: "getMfaStatus",
    summary: "Whether two-factor login (TOTP) is on for the caller, and how many recovery codes are left.",
    tags: mfaTags,
    auth: "bearer",
    responses: { 200: { description: "Status.", schema: MfaStatus }, ...authErrors },
  }),
  enroll: route({
    method: "post",
    path: "/api/v2/me/mfa/totp",
    operationId: "enrollTotp",
    summary:
      "Start TOTP enrolment: a new secret as an `otpauth://` URI and a QR code (PNG data URL), shown this once. Logins change only after confirmation; enrolling again replaces a pending secret.",
    tags: mfaTags,
    auth: "bearer",
    responses: {
      201: {
        description: "The secret, its URI and QR code.",
        schema: TotpEnrolment,
        headers: { "Cache-Control": "no-store" },
      },
      409: { description: "TOTP is already on (turn it off first).", schema: ErrorResponse },
      ...authErrors,
    },
  }),
  confirm: route({
    method: "post",
    path: "/api/v2/me/mfa/totp/confirm",
    operationId: "confirmTotp",
    summary:
      "Turn TOTP on with a first code from the app; answers ten one-time recovery codes, shown this once (only their hashes are kept).",
    tags: mfaTags,
    auth: "bearer",
    body: z.object({
      code: z
        .string()
        .regex(/^[0-9]{6}$/, "must be 6 digits")
        .describe("The current 6-digit code; one that is not the app's current code is a 400."),
    }),
    responses: {
      200: { description: "Two-factor login is on.", schema: RecoveryCodes, headers: { "Cache-Control": "no-store" } },
      409: { description: "No enrolment is pending, or TOTP is already on.", schema: ErrorResponse },
      ...tooMany,
      ...authErrors,
      400: { description: "Malformed, or the code is wrong.", schema: ErrorResponse },
    },
  }),
  disable: route({
    method: "post",
    path: "/api/v2/me/mfa/totp/disable",
    operationId: "disableTotp",
    summary: "Turn TOTP off with a current code or an unused recovery code; the recovery codes go with it.",
    tags: mfaTags,
    auth: "bearer",
    body: codeBody("A current 6-digit code or an unused recovery code; anything else (a wrong or used code) is a 400."),
    responses: {
      ...noContent,
      409: { description: "TOTP is not on.", schema: ErrorResponse },
      ...tooMany,
      ...authErrors,
      400: { description: "Malformed, or the code is wrong.", schema: ErrorResponse },
    },
  }),
  adminReset: route({
    method: "delete",
    path: "/api/v2/users/:id/mfa",
    operationId: "resetUserMfa",
    summary: "Remove a user's two-factor login, pending enrolment and recovery codes (admin).",
    tags: ["users", ...mfaTags],
    auth: "bearer",
    params: z.object({ id: UserId }),
    responses: { ...noContent, 404: { description: "No such user.", schema: ErrorResponse }, ...authErrors },
  }),
} as const;
