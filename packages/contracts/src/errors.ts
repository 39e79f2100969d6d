import { z } from "zod";

/**
 * Every failure that crosses a process boundary carries one of these codes. Services throw
 * `TrellisError`s with them, `serve` puts them on the wire, the typed client turns them back into
 * `TrellisError`s, and the gateway maps them to HTTP statuses in one function.
 */
export const ErrorCode = z.enum([
  "invalid_argument",
  "unauthenticated",
  /** The password (or face) was right, and the account asks for a second factor: see `details.challenge`. */
  "mfa_required",
  "forbidden",
  "not_found",
  "method_not_allowed",
  "conflict",
  "failed_precondition",
  "payload_too_large",
  "unsupported_media_type",
  "rate_limited",
  "cancelled",
  "unavailable",
  "deadline_exceeded",
  "internal",
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

/** Codes a caller may retry without changing the request. */
const RETRYABLE: ReadonlySet<ErrorCode> = new Set(["unavailable", "deadline_exceeded", "rate_limited"]);

/** One problem with one field of a request, as reported by schema validation. */
export const FieldIssue = z.object({
  path: z.string().describe("Dotted path of the offending field; empty for the whole value."),
  message: z.string(),
});
export type FieldIssue = z.infer<typeof FieldIssue>;

/** The error payload, identical on NATS replies and in HTTP error bodies. */
export const ErrorBody = z.object({
  code: ErrorCode,
  message: z.string(),
  retryable: z.boolean(),
  details: z
    .object({
      issues: z.array(FieldIssue).optional(),
      retryAfterSeconds: z.number().int().nonnegative().optional(),
      service: z.string().optional(),
      /** With `mfa_required`: the token that completes the login with a code (valid 5 minutes, once). */
      challenge: z.string().optional(),
    })
    .optional(),
});
export type ErrorBody = z.infer<typeof ErrorBody>;

export type ErrorDetails = NonNullable<ErrorBody["details"]>;

/** The typed error of the whole platform. */
export class TrellisError extends Error {
  override readonly name = "TrellisError";
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details: ErrorDetails | undefined;

  constructor(code: ErrorCode, message: string, options: { details?: ErrorDetails; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.code = code;
    this.retryable = RETRYABLE.has(code);
    this.details = options.details;
  }

  toBody(): ErrorBody {
    const body: ErrorBody = { code: this.code, message: this.message, retryable: this.retryable };
    if (this.details) body.details = this.details;
    return body;
  }

  static fromBody(body: ErrorBody): TrellisError {
    return new TrellisError(body.code, body.message, body.details ? { details: body.details } : {});
  }
}

export const isTrellisError = (err: unknown): err is TrellisError => err instanceof TrellisError;

/** Turns a failed zod parse into an `invalid_argument` error listing each field. */
export function invalidArgument(error: z.ZodError, what = "request"): TrellisError {
  const issues = error.issues.map((issue) => ({ path: issue.path.join("."), message: issue.message }));
  const summary = issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join("; ");
  return new TrellisError("invalid_argument", `invalid ${what}: ${summary}`, { details: { issues } });
}
