import { z } from "zod";

/** Users are identified by UUIDs (seed 000 uses `uuid.UUID`). */
export const UserId = z.uuid();
export type UserId = z.infer<typeof UserId>;

/** Seed 002: monitor ids are 32 hexadecimal characters. */
export const MonitorId = z
  .string()
  .regex(/^[0-9a-fA-F]{32}$/, "must be 32 hexadecimal characters")
  .transform((v) => v.toLowerCase());
export type MonitorId = z.output<typeof MonitorId>;

/** Seed 002: "Authentication tokens are hexadecimal strings of length 32." */
const V1_TOKEN_PATTERN = /^[0-9a-f]{32}$/;
export const V1Token = z.string().regex(V1_TOKEN_PATTERN, "must be 32 lowercase hexadecimal characters");
/** Whether a string has a v1 token's shape (not whether it is a live session). */
export const isV1Token = (value: string): boolean => V1_TOKEN_PATTERN.test(value);
export type V1Token = z.infer<typeof V1Token>;

/**
 * For text the services trim: "has a character `String.prototype.trim` keeps", as a JSON Schema
 * pattern, so a blank value is invalid in the document as it is on the server.
 */
export const NOT_BLANK = "[^\\t\\n\\v\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff]";

export const SessionId = z.string().min(16).max(64);

/**
 * Where a keyset listing stopped: the last item's time (ms since the epoch) and id, as
 * `<ms>.<id>`. Every value of this shape is a position in the listing (the items after it), so
 * the schema says all there is to say about a valid cursor.
 */
const PAGE_CURSOR = /^(\d{1,16})\.([0-9a-f-]{36})$/;
export const PageCursor = z
  .string()
  .regex(PAGE_CURSOR, "must be a `next` cursor from a previous page")
  .describe("The previous page's `next` (`<ms>.<id>`).");
export const encodePageCursor = (at: number, id: string): string => `${at}.${id}`;
/** The position a cursor names, or null when the text is not one. */
export function decodePageCursor(text: string): { at: number; id: string } | null {
  const m = PAGE_CURSOR.exec(text);
  return m ? { at: Number(m[1]), id: m[2] as string } : null;
}

/** A username as stored: no surrounding spaces (the pattern has none), so none are trimmed away. */
export const Username = z
  .string()
  .min(3, "must be at least 3 characters")
  .max(64, "must be at most 64 characters")
  .regex(/^[A-Za-z0-9._@-]+$/, "may contain letters, digits and . _ @ - only");
export type Username = z.infer<typeof Username>;

/** A password as presented at login: any non-empty string (the policy applies when one is set). */
export const PresentedPassword = z.string().min(1, "is required").max(1024);

export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 128;
/**
 * A password being set: 8 to 128 characters, counted in code points as JSON Schema counts them
 * (auth also refuses the ~49k most common passwords and the username, which no schema can say).
 */
export const NewPassword = newPassword(z.string());

/** `NewPassword`'s rule on a given string schema (the seed's `v1Required` keeps its messages). */
export function newPassword(base: z.ZodString) {
  return base
    .superRefine((value, ctx) => {
      const length = [...value].length;
      if (length < PASSWORD_MIN_LENGTH)
        ctx.addIssue({ code: "custom", message: `must be at least ${PASSWORD_MIN_LENGTH} characters` });
      else if (length > PASSWORD_MAX_LENGTH)
        ctx.addIssue({ code: "custom", message: `must be at most ${PASSWORD_MAX_LENGTH} characters` });
    })
    .meta({
      minLength: PASSWORD_MIN_LENGTH,
      maxLength: PASSWORD_MAX_LENGTH,
      description: `${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters; not one of the ~49k most common passwords, not the username (ignoring case): those are a 400.`,
    });
}

/**
 * An email address: zod's pattern, documented as that pattern alone. (`format: email` would let a
 * validator apply its own rules, e.g. RFC 5321's 64-character local part, that this one does not.)
 */
export const Email = z
  .string()
  .max(254)
  .regex(z.regexes.email, "must be an email address")
  .transform((v) => v.toLowerCase());

export const Role = z.enum(["user", "admin"]);
export type Role = z.infer<typeof Role>;

/**
 * Who is calling, as established by the gateway. Services authorize against it. Only trusted
 * connections can send requests to service subjects: devices get NATS credentials that allow
 * publishing their own readings and nothing else.
 */
export const Principal = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("user"), userId: UserId, username: z.string(), role: Role, sessionId: SessionId }),
  z.object({ kind: z.literal("monitor"), monitorId: MonitorId, ownerId: UserId, sessionId: SessionId }),
]);
export type Principal = z.infer<typeof Principal>;
export type UserPrincipal = Extract<Principal, { kind: "user" }>;

/** The HTTP client, for rate limits and the login log. */
export const ClientInfo = z.object({
  address: z.string().max(100),
  userAgent: z.string().max(500).optional(),
});
export type ClientInfo = z.infer<typeof ClientInfo>;

/** Seed 000: a face encoding is a float vector (128 values for the common dlib model). */
export const FACE_ENCODING_DIMENSION = 128;
export const FaceEncoding = z
  .array(z.number().finite())
  .length(FACE_ENCODING_DIMENSION, `must have exactly ${FACE_ENCODING_DIMENSION} numbers`);
export type FaceEncoding = z.infer<typeof FaceEncoding>;
