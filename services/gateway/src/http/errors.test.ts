import { ErrorCode, isCallerFault, ReadOutcome, TrellisError } from "@trellis/contracts";
import { describe, expect, it } from "vitest";
import { httpStatusFor, httpStatusForRead, toTrellisError } from "./errors.ts";

describe("httpStatusForRead", () => {
  it("maps each read outcome media decides to its RFC 9110 status", () => {
    const expected: Record<ReadOutcome, number> = { full: 200, partial: 206, not_modified: 304, unsatisfiable: 416 };
    for (const outcome of ReadOutcome.options) expect(httpStatusForRead(outcome), outcome).toBe(expected[outcome]);
  });
});

describe("the contracts' error kinds and the HTTP mapping", () => {
  it("agree: a code is the caller's fault exactly when its status is a 4xx", () => {
    for (const code of ErrorCode.options) expect(isCallerFault(code), code).toBe(httpStatusFor(code) < 500);
  });

  it("a retryable code is one HTTP clients retry (429, 503, 504)", () => {
    const retryable = ErrorCode.options.filter((code) => new TrellisError(code, "x").retryable);
    expect(retryable.map(httpStatusFor).sort()).toEqual([429, 503, 504]);
  });
});

describe("httpStatusFor", () => {
  it("maps every error code to a distinct, sensible status", () => {
    const expected: Record<ErrorCode, number> = {
      invalid_argument: 400,
      failed_precondition: 400,
      unauthenticated: 401,
      mfa_required: 401,
      forbidden: 403,
      not_found: 404,
      method_not_allowed: 405,
      conflict: 409,
      cancelled: 409,
      payload_too_large: 413,
      unsupported_media_type: 415,
      rate_limited: 429,
      internal: 500,
      unavailable: 503,
      deadline_exceeded: 504,
    };
    for (const code of ErrorCode.options) expect(httpStatusFor(code), code).toBe(expected[code]);
  });

  it("only internal errors are 5xx besides unavailability and timeouts", () => {
    const fiveHundreds = ErrorCode.options.filter((c) => httpStatusFor(c) >= 500).sort();
    expect(fiveHundreds).toEqual(["deadline_exceeded", "internal", "unavailable"]);
  });
});

describe("toTrellisError", () => {
  it("keeps typed errors as they are", () => {
    const err = new TrellisError("not_found", "nope");
    expect(toTrellisError(err)).toBe(err);
  });

  it("turns body-parser failures into client errors", () => {
    expect(toTrellisError({ type: "entity.parse.failed", status: 400 }).code).toBe("invalid_argument");
    expect(toTrellisError({ type: "entity.too.large", status: 413 }).code).toBe("payload_too_large");
    expect(toTrellisError({ type: "charset.unsupported", status: 415 }).code).toBe("unsupported_media_type");
  });

  it("hides the details of unexpected errors behind `internal`", () => {
    const err = toTrellisError(new Error("connection string mongodb://user:pw@host"));
    expect(err.code).toBe("internal");
    expect(err.message).toBe("internal error");
  });
});
