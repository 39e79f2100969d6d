import { FinalError } from "./final-error.ts";

/** The abort reason a cancel broadcast gives BullMQ's `cancelJob`, and the message of {@link CancelledError}. */
export const CANCELLED = "cancelled";

/** The job found its cancel requested (between steps): it stops, and the analysis ends `cancelled`. */
export class CancelledError extends FinalError {
  constructor() {
    super("cancelled", CANCELLED);
  }
}
