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

export const SessionId = z.string().min(16).max(64);

export const Username = z
  .string()
  .trim()
  .min(3, "must be at least 3 characters")
  .max(64, "must be at most 64 characters")
  .regex(/^[A-Za-z0-9._@-]+$/, "may contain letters, digits and . _ @ - only");
export type Username = z.infer<typeof Username>;

/** A password as presented at login: any non-empty string (the policy applies when one is set). */
export const PresentedPassword = z.string().min(1, "is required").max(1024);

export const Email = z
  .email()
  .max(254)
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
