import { z } from "zod";
import { ErrorBody } from "../errors.ts";

/** The error body of every modern (non-`/api/v1`) HTTP error response. */
export const ErrorResponse = z.object({ error: ErrorBody });
export type ErrorResponse = z.infer<typeof ErrorResponse>;

const e = (description: string) => ({ description, schema: ErrorResponse });

/** Error responses shared by modern routes, to spread into `responses`. */
export const commonErrors = {
  400: e("The request is malformed; `details.issues` names each field."),
  503: e("No instance of a service answered; retry after `Retry-After`."),
  504: e("A service did not answer in time."),
} as const;

export const authErrors = {
  ...commonErrors,
  401: e("Missing, malformed, expired or revoked credentials."),
  403: e("Authenticated, but not allowed to do this."),
} as const;

/** Seed 002's required string field: missing, not a string or empty is "<name> is required". */
export const v1Required = (name: string) => z.string({ error: `${name} is required` }).min(1, `${name} is required`);

/** Seed 002: "Authentication tokens are hexadecimal strings of length 32" (another shape: 400). */
export const v1Token = () =>
  v1Required("token")
    .regex(/^[0-9a-f]{32}$/, "token is invalid")
    .describe("The session's token: 32 lowercase hexadecimal characters.");
/** A user id (a UUID) in the seed's style: missing is "user_id is required", malformed "user_id is invalid". */
export const v1UserId = () =>
  v1Required("user_id")
    .regex(
      /^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-8][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}|00000000-0000-0000-0000-000000000000|ffffffff-ffff-ffff-ffff-ffffffffffff)$/,
      "user_id is invalid",
    )
    .describe("A user id (UUID).");
/** A monitor id (seed 002: 32 hexadecimal characters); missing is "monitor_id is required". */
export const v1MonitorId = () =>
  v1Required("monitor_id")
    .regex(/^[0-9a-fA-F]{32}$/, "monitor_id is invalid")
    .describe("A monitor id: 32 hexadecimal characters.");

/** Seed 002's envelope: `{ success: true, data }` or `{ success: false, cause }`. */
export const V1Failure = z.object({ success: z.literal(false), cause: z.string() });
export const v1Success = <T extends z.ZodType>(data: T) => z.object({ success: z.literal(true), data });
