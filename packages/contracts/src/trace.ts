import { z } from "zod";

/**
 * A W3C trace context carried in a payload where there are no headers (a BullMQ job's data), so
 * the work it starts joins the trace of the request that queued it. `traceparent` is
 * `version-traceid-parentid-flags` in lowercase hex.
 */
export const TraceCarrier = z.object({
  traceparent: z.string().regex(/^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/, "must be a W3C traceparent"),
  tracestate: z.string().max(512).optional(),
});
export type TraceCarrier = z.infer<typeof TraceCarrier>;
