import { type ErrorBody, type ErrorCode, isTrellisError, type ReadOutcome, TrellisError } from "@trellis/contracts";
import type { ErrorRequestHandler, Request, Response } from "express";

/** The one place error codes become HTTP statuses. */
export function httpStatusFor(code: ErrorCode): number {
  switch (code) {
    case "invalid_argument":
    case "failed_precondition":
      return 400;
    case "unauthenticated":
    case "mfa_required":
      return 401;
    case "forbidden":
      return 403;
    case "not_found":
      return 404;
    case "method_not_allowed":
      return 405;
    case "conflict":
    case "cancelled":
      return 409;
    case "payload_too_large":
      return 413;
    case "unsupported_media_type":
      return 415;
    case "rate_limited":
      return 429;
    case "unavailable":
      return 503;
    case "deadline_exceeded":
      return 504;
    case "internal":
      return 500;
  }
}

/** The one place a read outcome (media decides it, RFC 9110's rules) becomes an HTTP status. */
export function httpStatusForRead(outcome: ReadOutcome): 200 | 206 | 304 | 416 {
  switch (outcome) {
    case "full":
      return 200;
    case "partial":
      return 206;
    case "not_modified":
      return 304;
    case "unsatisfiable":
      return 416;
  }
}

/** The compatibility API (seed 002) has its own envelope: `{ success: false, cause }`. */
const isCompatibilityPath = (req: Request) => req.path.startsWith("/api/v1/") || req.path === "/api/v1";

/** body-parser and friends signal failures with `type` / `status`; give them stable codes. */
function fromFrameworkError(err: unknown): TrellisError | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  const e = err as { type?: string; status?: number; message?: string };
  switch (e.type) {
    case "entity.parse.failed":
      return new TrellisError("invalid_argument", "request body is not valid JSON");
    case "entity.too.large":
      return new TrellisError("payload_too_large", "request body is too large");
    case "encoding.unsupported":
    case "charset.unsupported":
      return new TrellisError("unsupported_media_type", e.message ?? "unsupported body encoding");
    case "request.aborted":
      return new TrellisError("invalid_argument", "request aborted");
  }
  if (typeof e.status === "number" && e.status >= 400 && e.status < 500) {
    return new TrellisError("invalid_argument", e.message ?? "bad request");
  }
  return undefined;
}

export function toTrellisError(err: unknown): TrellisError {
  if (isTrellisError(err)) return err;
  return fromFrameworkError(err) ?? new TrellisError("internal", "internal error", { cause: err });
}

export function sendError(req: Request, res: Response, error: TrellisError): void {
  const status = httpStatusFor(error.code);
  if (error.code === "unavailable" || error.code === "rate_limited") {
    res.setHeader("Retry-After", String(error.details?.retryAfterSeconds ?? 1));
  }
  if (isCompatibilityPath(req)) {
    res.status(status).json({ success: false, cause: error.message });
    return;
  }
  const body: ErrorBody = error.toBody();
  res.status(status).json({ error: body });
}

/** Last middleware: every failure leaves as the JSON error shape; only real bugs are 500s. */
export const errorHandler: ErrorRequestHandler = (err, req, res, _next) => {
  const error = toTrellisError(err);
  if (error.code === "internal") req.log.error({ err }, "unhandled error");
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendError(req, res, error);
};
