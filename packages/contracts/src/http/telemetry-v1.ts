import { z } from "zod";
import { newPassword } from "../identity.ts";
import { MEASUREMENTS, V1AllMonitorsData, V1MonitorData } from "../telemetry.ts";
import { V1Failure, v1MonitorId, v1Required, v1Success, v1Token, v1UserId } from "./errors-http.ts";
import { route } from "./route.ts";

/**
 * The monitor endpoints of seed 002, served unchanged: same paths, JSON field names, envelope and
 * status codes. As in `compat-v1.ts`, bodies are lenient about extra fields but strict about the
 * ones the seed requires; ids are checked by the gateway so a malformed one is the seed's 400.
 */
const tags = ["compatibility v1"];
const required = v1Required;
const fail = (description: string) => ({ description, schema: V1Failure });
/** Query strings are text: integers are coerced, anything else is a 400. */
const timeFilter = (what: string, description: string) =>
  z.coerce
    .number({ error: `${what} must be an integer` })
    .int(`${what} must be an integer`)
    .optional()
    .describe(description);

/**
 * The original server's update rules (the reading itself is built by the gateway's v1 layer):
 * a field may hold anything; a number is stored, `null`, `""` and values of another type are
 * skipped, keys outside the ten fields are ignored. Documented as the type the seed names.
 */
const lenient = (type: "number" | "string", description: string) =>
  z
    .unknown()
    .optional()
    .meta({ type: [type, "null"], description });
const measurementFields = Object.fromEntries(
  MEASUREMENTS.map((m) => [
    m,
    lenient("number", 'A measurement; null, "" or a value that is not a number is skipped.'),
  ]),
) as { [K in (typeof MEASUREMENTS)[number]]: ReturnType<typeof lenient> };

/** Seed 002 gives reset and delete the same status table. */
const adminMonitorResponses = {
  200: { description: "The request was successful.", schema: v1Success(z.null()) },
  400: fail("Some arguments weren't provided, or the monitor_id is invalid."),
  401: fail("The provided token was invalid."),
  403: fail("A non-admin tried to access this method."),
} as const;

export const telemetryV1Routes = {
  monitorsGet: route({
    method: "get",
    path: "/api/v1/monitors/get",
    operationId: "v1MonitorsGet",
    summary:
      "A monitor's current values and history per measurement (its owner or an admin); every monitor, keyed by id with its `owner`, for an admin without `monitor_id`.",
    tags,
    auth: "v1",
    query: z.object({
      token: v1Token(),
      monitor_id: v1MonitorId().optional(),
      startTime: timeFilter("startTime", "Only data points after this unix timestamp (milliseconds)."),
      endTime: timeFilter("endTime", "Only data points before this unix timestamp (milliseconds)."),
    }),
    responses: {
      200: {
        description: "The request was successful.",
        schema: v1Success(z.union([V1MonitorData, V1AllMonitorsData])),
      },
      400: fail("The monitor_id or token given was invalid."),
      401: fail("The provided token was invalid."),
      403: fail(
        "Listing all monitors without an admin token was attempted, or accessing another user's monitor was attempted.",
      ),
    },
  }),
  monitorsUpdate: route({
    method: "post",
    path: "/api/v1/monitors/update",
    operationId: "v1MonitorsUpdate",
    summary:
      "Add a data point: each measurement given updates its `value` and `history` (the monitor itself or an admin). `id` is accepted for `monitor_id`, as in the seed's examples.",
    tags,
    auth: "v1",
    body: z.object({
      token: v1Token(),
      monitor_id: v1MonitorId().optional(),
      /** The seed's own examples send `id`; accepted when `monitor_id` is absent. */
      id: v1MonitorId().optional(),
      ...measurementFields,
      foliage_feed: lenient("string", 'Camera image (base64); null, "" or a value that is not a string is skipped.'),
      root_stream: lenient("string", 'Camera image (base64); null, "" or a value that is not a string is skipped.'),
    }),
    responses: {
      200: { description: "The request was successful.", schema: v1Success(z.null()) },
      400: fail("The monitor_id or token given was invalid, or no measurements could be updated."),
      401: fail("The provided token was invalid."),
      403: fail("The token doesn't match the provided monitor_id."),
      413: fail("A camera field is larger than 1.5 MB."),
      503: fail("The readings pipeline is unavailable; nothing was stored. Retry after `Retry-After`."),
      504: fail(
        "The reading was accepted but not stored within the request deadline; it will be stored exactly once (do not resend it).",
      ),
    },
  }),
  monitorsAdd: route({
    method: "post",
    path: "/api/v1/monitors/add",
    operationId: "v1MonitorsAdd",
    summary: "Add a monitor with an id and a password for a user (admin).",
    tags,
    auth: "v1",
    body: z.object({
      token: v1Token(),
      user_id: v1UserId(),
      monitor_id: v1MonitorId(),
      password: newPassword(required("password")),
    }),
    responses: {
      200: { description: "The request was successful and the monitor was created.", schema: v1Success(z.null()) },
      400: fail(
        "Some arguments weren't provided, the monitor_id already exists or is invalid, or the user_id doesn't exist or is invalid.",
      ),
      401: fail("The provided token was invalid."),
      403: fail("A non-admin tried to access this method."),
    },
  }),
  monitorsReset: route({
    method: "post",
    path: "/api/v1/monitors/reset",
    operationId: "v1MonitorsReset",
    summary: "Delete a monitor's data points, keeping the monitor (admin).",
    tags,
    auth: "v1",
    body: z.object({ token: v1Token(), monitor_id: v1MonitorId() }),
    responses: adminMonitorResponses,
  }),
  monitorsDelete: route({
    method: "post",
    path: "/api/v1/monitors/delete",
    operationId: "v1MonitorsDelete",
    summary: "Delete a monitor, its credentials and its data (admin).",
    tags,
    auth: "v1",
    body: z.object({ token: v1Token(), monitor_id: v1MonitorId() }),
    responses: adminMonitorResponses,
  }),
} as const;
