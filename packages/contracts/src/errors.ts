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

/**
 * What each code says about a failure, in one table (the gateway's `httpStatusFor` is the HTTP side):
 * - `retryable`: the caller may retry without changing the request;
 * - `callerFault`: the caller asked for something wrong (HTTP 4xx); a server refusing it did not
 *   fail (tracing leaves such server spans unset, as HTTP server spans treat 4xx).
 */
export const ERROR_KINDS: Readonly<Record<ErrorCode, { retryable: boolean; callerFault: boolean }>> = {
  invalid_argument: { retryable: false, callerFault: true },
  unauthenticated: { retryable: false, callerFault: true },
  mfa_required: { retryable: false, callerFault: true },
  forbidden: { retryable: false, callerFault: true },
  not_found: { retryable: false, callerFault: true },
  method_not_allowed: { retryable: false, callerFault: true },
  conflict: { retryable: false, callerFault: true },
  failed_precondition: { retryable: false, callerFault: true },
  payload_too_large: { retryable: false, callerFault: true },
  unsupported_media_type: { retryable: false, callerFault: true },
  rate_limited: { retryable: true, callerFault: true },
  cancelled: { retryable: false, callerFault: true },
  unavailable: { retryable: true, callerFault: false },
  deadline_exceeded: { retryable: true, callerFault: false },
  internal: { retryable: false, callerFault: false },
};

/** Whether `code` (a known code, or any string off the wire) says the caller asked for something wrong. */
export const isCallerFault = (code: string): boolean =>
  (ERROR_KINDS as Record<string, { callerFault: boolean } | undefined>)[code]?.callerFault === true;

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
    this.retryable = ERROR_KINDS[code].retryable;
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
