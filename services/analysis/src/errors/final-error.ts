import type { ErrorCode } from "@trellis/contracts";
import { UnrecoverableError } from "bullmq";

/**
 * A final failure with a stable code (e.g. `invalid_argument` for a URL the origin refuses,
 * `forbidden` for an address the egress policy refuses): never retried, and the code is the
 * analysis's error code.
 */
export class FinalError extends UnrecoverableError {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}
