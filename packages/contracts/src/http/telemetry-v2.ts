import { z } from "zod";
import { MonitorId, NewPassword, UserId } from "../identity.ts";
import {
  Aggregate,
  BulkResult,
  ColumnSeries,
  Fill,
  IdempotencyKey,
  Interval,
  MAX_BULK_CSV_BYTES,
  MAX_BULK_ROWS,
  MEASUREMENTS,
  Measurement,
  Monitor,
  MonitorsPage,
  Reading,
  SeriesColumns,
  SeriesPoint,
  telemetryCatalog,
} from "../telemetry.ts";
import { authErrors, ErrorResponse } from "./errors-http.ts";
import { route } from "./route.ts";

const tags = ["monitors"];
const idParams = z.object({ id: MonitorId });
const noContent = { 204: { description: "Done." } } as const;
/** Another user's monitor answers exactly as an unknown id (docs/api.md, "Errors": one rule for "not yours"). */
const noMonitor = {
  404: { description: "No such monitor, or not yours (the same answer).", schema: ErrorResponse },
} as const;
/** Query strings are text: numbers are coerced, and a non-integer is a 400 naming the field. */
const ms = (description: string) => z.coerce.number().int().min(0).optional().describe(description);

/** How many readings one `readings.csv` page asks telemetry for. */
export const CSV_PAGE_SIZE = 1_000;
/** The CSV export's columns, in order. */
export const CSV_COLUMNS = ["timestamp", "iso_time", ...MEASUREMENTS] as const;

/** One bucket of one aggregate, when `aggregate` is given. */
export const AggregatePoint = z.object({ start: z.number().int(), value: z.number().nullable() });
export type AggregatePoint = z.infer<typeof AggregatePoint>;

export const SeriesResponse = z.object({
  measurement: Measurement,
  interval: z.string(),
  from: z.number().int(),
  to: z.number().int(),
  /** Present when one aggregate was asked for: the points are then `{ start, value }`. */
  aggregate: Aggregate.optional(),
  points: z.array(z.union([SeriesPoint, AggregatePoint])),
});
export type SeriesResponse = z.infer<typeof SeriesResponse>;

/** The answer to `measurements=`: one series per column, in the order asked. */
export const ColumnsSeriesResponse = z.object({
  interval: z.string(),
  from: z.number().int(),
  to: z.number().int(),
  fill: Fill,
  series: z.array(ColumnSeries),
});
export type ColumnsSeriesResponse = z.infer<typeof ColumnsSeriesResponse>;

/** A series CSV's header: `start,iso_time`, then `<measurement>_<aggregate>` per column. */
export const seriesCsvHeader = (columns: readonly { measurement: string; aggregate: string }[]): string =>
  ["start", "iso_time", ...columns.map((c) => `${c.measurement}_${c.aggregate}`)].join(",");

export const ReadingStored = telemetryCatalog.submitReading.reply;
export const LatestReadings = telemetryCatalog.latest.reply;
export const ReadingsPage = telemetryCatalog.history.reply;

/**
 * Monitors and readings in the modern API. Authorization (owner / the monitor itself / admin) is
 * decided by telemetry from the caller; times are milliseconds since the epoch.
 */
export const telemetryV2Routes = {
  list: route({
    method: "get",
    path: "/api/v2/monitors",
    operationId: "listMonitors",
    summary: "Monitors of a user (self or admin); every monitor for an admin without `owner_id`.",
    tags,
    auth: "bearer",
    query: z.object({
      owner_id: UserId.optional(),
      limit: z.coerce.number().int().min(1).max(1_000).default(100),
      cursor: MonitorId.optional().describe("The previous page's `nextCursor`."),
    }),
    responses: { 200: { description: "A page of monitors, by id.", schema: MonitorsPage }, ...authErrors },
  }),
  create: route({
    method: "post",
    path: "/api/v2/monitors",
    operationId: "createMonitor",
    summary: "Add a monitor (32-hex id) with its login password for a user (admin).",
    tags,
    auth: "bearer",
    body: z.object({ id: MonitorId, owner_id: UserId, password: NewPassword }),
    responses: {
      201: { description: "The new monitor.", schema: Monitor },
      404: { description: "The owner does not exist.", schema: ErrorResponse },
      409: { description: "A monitor with this id exists.", schema: ErrorResponse },
      ...authErrors,
    },
  }),
  bulkCreate: route({
    method: "post",
    path: "/api/v2/monitors/bulk",
    operationId: "bulkCreateMonitors",
    summary: `Add many monitors from a CSV (admin): rows \`id,owner,password\` (an optional header row \`id,owner,password\`; \`owner\` a user id; \`password\` \`generate\` for a generated one). Each row answers \`created\`, \`exists\` (left unchanged: uploading the same file again changes nothing) or \`error\` with a reason (bad id or owner, unknown owner, weak password, an id repeated in the file); the other rows are still processed. A generated password is in its row's result, this once only. Up to ${MAX_BULK_CSV_BYTES / 1024} KiB and ${MAX_BULK_ROWS} rows; rows not reached within the request deadline answer \`error\` (upload the file again).`,
    tags,
    auth: "bearer",
    rawBody: { description: "The CSV, UTF-8.", contentTypes: ["text/csv"] },
    responses: {
      200: { description: "A result per row, in file order.", schema: BulkResult },
      413: {
        description: `Larger than ${MAX_BULK_CSV_BYTES / 1024} KiB or more than ${MAX_BULK_ROWS} rows.`,
        schema: ErrorResponse,
      },
      415: { description: "Not text/csv.", schema: ErrorResponse },
      ...authErrors,
    },
  }),
  get: route({
    method: "get",
    path: "/api/v2/monitors/:id",
    operationId: "getMonitor",
    summary: "A monitor (its owner or an admin; another user gets 404 as for an unknown id; a monitor token 403).",
    tags,
    auth: "bearer",
    params: idParams,
    responses: { 200: { description: "The monitor.", schema: Monitor }, ...noMonitor, ...authErrors },
  }),
  delete: route({
    method: "delete",
    path: "/api/v2/monitors/:id",
    operationId: "deleteMonitor",
    summary: "Delete a monitor, its credentials and its readings (admin).",
    tags,
    auth: "bearer",
    params: idParams,
    responses: { ...noContent, ...noMonitor, ...authErrors },
  }),
  reset: route({
    method: "post",
    path: "/api/v2/monitors/:id/reset",
    operationId: "resetMonitor",
    summary: "Delete a monitor's readings, keeping the monitor (admin).",
    tags,
    auth: "bearer",
    params: idParams,
    responses: { ...noContent, ...noMonitor, ...authErrors },
  }),
  submitReading: route({
    method: "post",
    path: "/api/v2/monitors/:id/readings",
    operationId: "submitReading",
    summary:
      "Submit a reading into the same durable pipeline devices publish to (the monitor itself or an admin). The answer comes once the reading is stored and visible to every query. With `Idempotency-Key`, a retry within 2 minutes is stored once.",
    tags,
    auth: "bearer",
    params: idParams,
    headers: z.object({
      "idempotency-key": IdempotencyKey.optional().describe(
        "Makes a retry safe: the same key within the stream's duplicate window (2 minutes) stores the reading once.",
      ),
    }),
    body: Reading,
    responses: {
      200: { description: "Stored and visible to every query.", schema: ReadingStored },
      ...noMonitor,
      413: { description: "The reading is too large.", schema: ErrorResponse },
      ...authErrors,
      504: {
        description:
          "Accepted but not stored within the request deadline; it will be stored once. Retry with the same `Idempotency-Key` to wait for it.",
        schema: ErrorResponse,
      },
    },
  }),
  latest: route({
    method: "get",
    path: "/api/v2/monitors/:id/readings/latest",
    operationId: "getLatestReadings",
    summary: "The latest value of each measurement, with its time (owner or admin).",
    tags,
    auth: "bearer",
    params: idParams,
    responses: { 200: { description: "Latest values.", schema: LatestReadings }, ...noMonitor, ...authErrors },
  }),
  history: route({
    method: "get",
    path: "/api/v2/monitors/:id/readings",
    operationId: "getReadings",
    summary:
      "Raw readings in a window, oldest first, a page at a time: pass the page's `nextAfter` as `after` for the next one (owner or admin).",
    tags,
    auth: "bearer",
    params: idParams,
    query: z.object({
      from: ms("Window start (inclusive), ms since the epoch."),
      to: ms("Window end (inclusive), ms since the epoch."),
      limit: z.coerce.number().int().min(1).max(10_000).default(1_000),
      after: ms("Readings strictly after this timestamp: the previous page's `nextAfter`."),
    }),
    responses: { 200: { description: "A page.", schema: ReadingsPage }, ...noMonitor, ...authErrors },
  }),
  series: route({
    method: "get",
    path: "/api/v2/monitors/:id/series",
    operationId: "getSeries",
    summary:
      "Measurements aggregated per interval (from per-minute rollups; owner or admin). Either `measurement` (one measurement: `{start, count, avg, min, max}` per bucket, or `{start, value}` of one `aggregate`) or `measurements=ph:avg,reservoir_temp:max` (several columns, each with its own aggregate: `{series: [{measurement, aggregate, points: [{start, value}]}]}`). `fill` fills buckets without readings (`none` leaves them out). Rules between the parameters (a 400 otherwise): exactly one of `measurement` and `measurements`; `aggregate` only with `measurement`; `fill` only with `measurements` or `aggregate`; `to` not before `from`; a window of at most 400 days and 10,000 buckets of `interval`. As CSV with `format=csv` or `Accept: text/csv`: `start,iso_time,<measurement>_<aggregate>...`, one row per bucket, an empty cell for no value.",
    tags,
    auth: "bearer",
    params: idParams,
    query: z.object({
      measurement: Measurement.optional().describe("One measurement (the original form); or use `measurements`."),
      measurements: SeriesColumns.optional().describe(
        "Comma-separated `<measurement>:<aggregate>` columns, e.g. `ph:avg,reservoir_temp:max` (aggregates: avg, min, max, count, sum, stddev, last; at most 16 columns).",
      ),
      from: ms("Window start, ms since the epoch; default: 24 hours before `to`."),
      to: ms("Window end, ms since the epoch; default: now."),
      interval: Interval.default("1h"),
      aggregate: Aggregate.optional().describe("With `measurement`: answer `{start, value}` of this aggregate only."),
      fill: Fill.optional().describe(
        "Buckets without readings: `none` (default, left out), `null`, `previous` (the last value before), `linear` (interpolated between the values either side). A count column counts 0 instead. Needs `measurements` or `aggregate`.",
      ),
      format: z.enum(["json", "csv"]).optional().describe("`csv` for a CSV download (as `Accept: text/csv`)."),
    }),
    responses: {
      200: {
        description:
          "The series: `SeriesResponse` for `measurement`, `ColumnsSeriesResponse` for `measurements`; or `text/csv; charset=utf-8` when CSV was asked for.",
        schema: z.union([SeriesResponse, ColumnsSeriesResponse]),
        alsoAs: ["text/csv"],
      },
      ...noMonitor,
      ...authErrors,
    },
  }),
  exportCsv: route({
    method: "get",
    path: "/api/v2/monitors/:id/readings.csv",
    operationId: "exportReadingsCsv",
    summary:
      "Readings in a window as a streamed CSV download (`text/csv`): a header row `timestamp,iso_time,<measurements>` then one row per reading, oldest first (owner or admin).",
    tags,
    auth: "bearer",
    params: idParams,
    query: z.object({
      from: ms("Window start, ms since the epoch; default: 0."),
      to: ms("Window end, ms since the epoch; default: now."),
    }),
    responses: {
      200: { description: "`text/csv; charset=utf-8`, as an attachment named `<id>-<from>-<to>.csv`." },
      ...noMonitor,
      ...authErrors,
    },
  }),
} as const;
