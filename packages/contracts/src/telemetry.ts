import { z } from "zod";
import { endpoint, streamEndpoint } from "./endpoint.ts";
import { healthEndpoint } from "./health.ts";
import { MonitorId, PresentedPassword, Principal, UserId } from "./identity.ts";
import { MonitorPresenceFields, MonitorSettingsChange } from "./presence.ts";
import { subject } from "./services.ts";
import { MEASUREMENTS } from "./telemetry-constants.ts";

const s = (name: string) => subject("telemetry", 1, name);

export { MEASUREMENTS };
export const Measurement = z.enum(MEASUREMENTS);
export type Measurement = z.infer<typeof Measurement>;

/** Seed 002: the two string fields (camera images or video fragments, base64, up to ~1 MiB). */
export const STRING_FIELDS = ["foliage_feed", "root_stream"] as const;
export type StringField = (typeof STRING_FIELDS)[number];

/** Largest accepted string field: real monitors send base64 images of several hundred KB. */
export const MAX_STRING_FIELD_BYTES = 1_500_000;

const finite = z.number({ error: "must be a number" }).finite("must be a finite number");

/**
 * One reading as a device publishes it (and as `/api/v1/monitors/update` submits it): any of the
 * eight measurements and two strings, nothing else, at least one of them. `timestamp` (ms since
 * the epoch) defaults to when telemetry receives it.
 */
export const Reading = z
  .object({
    ...Object.fromEntries(MEASUREMENTS.map((m) => [m, finite.optional()])),
    foliage_feed: z.string().max(MAX_STRING_FIELD_BYTES).optional(),
    root_stream: z.string().max(MAX_STRING_FIELD_BYTES).optional(),
    timestamp: z.number().int().min(0).max(8_640_000_000_000_000).optional(),
  } as { [K in Measurement]: z.ZodOptional<typeof finite> } & {
    foliage_feed: z.ZodOptional<z.ZodString>;
    root_stream: z.ZodOptional<z.ZodString>;
    timestamp: z.ZodOptional<z.ZodNumber>;
  })
  .strict()
  .refine((r) => [...MEASUREMENTS, ...STRING_FIELDS].some((k) => r[k] !== undefined), {
    message: "no measurements could be updated: send at least one measurement",
  })
  // The same rule for the OpenAPI document: at least one measurement (or string field).
  .meta({ anyOf: [...MEASUREMENTS, ...STRING_FIELDS].map((k) => ({ required: [k] })) });
export type Reading = z.infer<typeof Reading>;

/** Device subjects are part of the public contract: a monitor publishes and listens only here. */
export const deviceSubjects = {
  /** JetStream captures these; a device publishes its readings here (with `Nats-Msg-Id` to dedupe retries). */
  readings: (monitorId: string) => `telemetry.v1.devices.${monitorId}.readings`,
  readingsWildcard: "telemetry.v1.devices.*.readings",
  /** The monitor id of a readings subject (lowercased), or null when it is not one. */
  monitorOfReadings(subject: string): string | null {
    const parts = subject.split(".");
    if (parts.length !== 5 || parts[2] !== "devices" || parts[4] !== "readings") return null;
    const id = MonitorId.safeParse(parts[3]);
    return id.success ? id.data : null;
  },
  /**
   * The monitor token of a device subject (`telemetry.v1.devices.<token>.…`) as it came, even when it
   * is no valid monitor id (to report it), or "" when there is none.
   */
  monitorTokenOf(subject: string): string {
    return subject.split(".")[3] ?? "";
  },
  /** Commands to a device: NATS requests `{id, name, params}`, answered on the reply subject (see commands.ts). */
  commands: (monitorId: string) => `telemetry.v1.devices.${monitorId}.commands`,
  /** A device's private reply inbox prefix (its NATS user may subscribe only below it). */
  inboxPrefix: (monitorId: string) => `_INBOX_${monitorId}`,
} as const;

export const READINGS_STREAM = "TELEMETRY_READINGS";
export const READINGS_CONSUMER = "telemetry-ingest";
export const TELEMETRY_EVENTS_STREAM = "TELEMETRY_EVENTS";
export const TELEMETRY_EVENTS_SUBJECTS = s("events.>");

/** Rejected readings, with the reason, never silently dropped. */
export const telemetryEvents = {
  readingRejected: {
    subject: s("events.reading_rejected"),
    schema: z.object({
      monitorId: z.string(),
      reason: z.string(),
      streamSequence: z.number().int().nonnegative(),
      at: z.iso.datetime(),
    }),
  },
  monitorDeleted: {
    subject: s("events.monitor_deleted"),
    schema: z.object({ monitorId: MonitorId, ownerId: UserId, at: z.iso.datetime() }),
  },
} as const;

/**
 * Broadcast (core NATS, every telemetry instance listens) after each ingest round is written and
 * acked: which stream sequences are now stored and visible, and which were rejected. An instance
 * answering an HTTP submission waits for its reading's sequence here (read-your-writes).
 */
export const readingsStoredNotice = {
  subject: s("ingest.stored"),
  schema: z.object({
    /** Inclusive ranges of stream sequences, ascending. */
    stored: z.array(z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()])),
    rejected: z.array(z.object({ seq: z.number().int().nonnegative(), reason: z.string() })),
  }),
} as const;
export type ReadingsStoredNotice = z.infer<typeof readingsStoredNotice.schema>;

/**
 * A client's key for a submission it may retry (`Idempotency-Key` header): within the readings
 * stream's duplicate window (2 minutes) a retry with the same key is stored once.
 */
export const IdempotencyKey = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[\x21-\x7e]+$/, "must be 1-200 visible ASCII characters");

export const Monitor = z.object({
  id: z.string(),
  ownerId: UserId,
  createdAt: z.iso.datetime(),
  lastReadingAt: z.iso.datetime().nullable(),
  readingsStored: z.number().int().nonnegative(),
  readingsRejected: z.number().int().nonnegative(),
  ...MonitorPresenceFields,
});
export type Monitor = z.infer<typeof Monitor>;

/** A page of monitors; `nextCursor` continues it (null on the last page). */
export const MonitorsPage = z.object({ items: z.array(Monitor), nextCursor: z.string().nullable() });
export type MonitorsPage = z.infer<typeof MonitorsPage>;

/** Seed 002 measurement shape: the current value and a history keyed by ms timestamps (as strings). */
export const V1Measurement = z.object({ value: z.number().nullable(), history: z.record(z.string(), z.number()) });
export const V1MonitorData = z.object({
  ...(Object.fromEntries(MEASUREMENTS.map((m) => [m, V1Measurement])) as { [K in Measurement]: typeof V1Measurement }),
  foliage_feed: z.string().nullable(),
  root_stream: z.string().nullable(),
});
export type V1MonitorData = z.infer<typeof V1MonitorData>;
/** Seed 002 `monitors/get` for every monitor (admin): keyed by monitor id, each with its `owner`. */
export const V1AllMonitorsData = z.record(z.string(), V1MonitorData.extend({ owner: UserId }));
export type V1AllMonitorsData = z.infer<typeof V1AllMonitorsData>;

/**
 * What one series column computes per bucket. `stddev` is the population standard deviation
 * (from count, sum and sum of squares); `last` is the value of the bucket's latest reading.
 */
export const Aggregate = z.enum(["avg", "min", "max", "count", "sum", "stddev", "last"]);
export type Aggregate = z.infer<typeof Aggregate>;

/**
 * How buckets without readings are filled: `none` leaves them out, `null` lists them with a null
 * value, `previous` repeats the last value before them, `linear` interpolates between the values
 * either side (null when one side has none). A `count` column is never filled: an empty bucket
 * counts 0. Fill never looks outside the window.
 */
export const Fill = z.enum(["none", "null", "previous", "linear"]);
export type Fill = z.infer<typeof Fill>;

/** One column of a series query: a measurement and its aggregate. */
export const SeriesColumn = z.object({ measurement: Measurement, aggregate: Aggregate });
export type SeriesColumn = z.infer<typeof SeriesColumn>;

/** Most columns one series query may ask for. */
export const MAX_SERIES_COLUMNS = 16;

/**
 * `ph:avg,reservoir_temp:max` → columns. Each measurement may appear with several aggregates,
 * but a pair only once.
 */
export const SeriesColumns = z
  .string()
  .max(1_000)
  .transform((text, ctx): SeriesColumn[] => {
    const columns: SeriesColumn[] = [];
    const seen = new Set<string>();
    for (const part of text.split(",")) {
      const [m, a, ...rest] = part.trim().split(":");
      const measurement = Measurement.safeParse(m);
      const aggregate = Aggregate.safeParse(a);
      if (rest.length > 0 || !measurement.success || !aggregate.success) {
        ctx.addIssue({
          code: "custom",
          message: `"${part}" must be <measurement>:<aggregate> with an aggregate among ${Aggregate.options.join("|")}`,
        });
        return z.NEVER;
      }
      const key = `${measurement.data}:${aggregate.data}`;
      if (seen.has(key)) {
        ctx.addIssue({ code: "custom", message: `"${key}" is asked for twice` });
        return z.NEVER;
      }
      seen.add(key);
      columns.push({ measurement: measurement.data, aggregate: aggregate.data });
    }
    if (columns.length > MAX_SERIES_COLUMNS) {
      ctx.addIssue({ code: "custom", message: `at most ${MAX_SERIES_COLUMNS} columns` });
      return z.NEVER;
    }
    return columns;
  });

/** One bucket of one column: its start (ms) and value (null when unknown or left empty by `fill`). */
export const ColumnPoint = z.object({ start: z.number().int(), value: z.number().nullable() });
export type ColumnPoint = z.infer<typeof ColumnPoint>;
export const ColumnSeries = SeriesColumn.extend({ points: z.array(ColumnPoint) });
export type ColumnSeries = z.infer<typeof ColumnSeries>;
/** Bucket sizes: `<n>m`, `<n>h` or `<n>d` (1m is the finest: readings are rolled up per minute). */
export const Interval = z.string().regex(/^[1-9]\d{0,3}[mhd]$/, "must look like 1m, 15m, 1h or 1d");

export const SeriesPoint = z.object({
  start: z.number().int(),
  count: z.number().int(),
  avg: z.number().nullable(),
  min: z.number().nullable(),
  max: z.number().nullable(),
});
export type SeriesPoint = z.infer<typeof SeriesPoint>;

export const RawPoint = z.object({
  at: z.number().int(),
  values: z.partialRecord(Measurement, z.number()),
});
export type RawPoint = z.infer<typeof RawPoint>;

/** Largest bulk-provisioning CSV (bytes): larger is a 413. */
export const MAX_BULK_CSV_BYTES = 256 * 1024;
/** Most monitor rows in one bulk CSV. */
export const MAX_BULK_ROWS = 1_000;
/** The password cell that asks for a generated password. */
export const GENERATE_PASSWORD = "generate";

/**
 * What became of one row of a bulk CSV: `created`, `exists` (a monitor with this id was there
 * already: left unchanged), or `error` with the reason. `password` only for a created monitor
 * whose password was generated: shown this once, stored only as a hash.
 */
export const BulkRowResult = z.object({
  /** The row's line in the file (1 = the first line). */
  line: z.number().int().positive(),
  /** The id as written in the row (cut to 64 characters), lowercased when valid. */
  id: z.string(),
  status: z.enum(["created", "exists", "error"]),
  reason: z.string().optional(),
  password: z.string().optional(),
});
export type BulkRowResult = z.infer<typeof BulkRowResult>;

export const BulkResult = z.object({
  results: z.array(BulkRowResult),
  created: z.number().int().nonnegative(),
  exists: z.number().int().nonnegative(),
  errors: z.number().int().nonnegative(),
});
export type BulkResult = z.infer<typeof BulkResult>;

const Actor = { actor: Principal };
const Window = { from: z.number().int().min(0).optional(), to: z.number().int().min(0).optional() };

export const telemetryCatalog = {
  health: healthEndpoint("telemetry"),
  addMonitor: endpoint({
    subject: s("monitors.add"),
    request: z.object({ ...Actor, monitorId: MonitorId, ownerId: UserId, password: PresentedPassword }),
    reply: Monitor,
    description: "Adds a monitor for a user (admin): credentials go to auth, metadata stays here.",
  }),
  bulkAddMonitors: endpoint({
    subject: s("monitors.bulk_add"),
    request: z.object({ ...Actor, csv: z.string().max(MAX_BULK_CSV_BYTES) }),
    reply: BulkResult,
    description:
      "Adds the monitors of a CSV (`id,owner,password`, password `generate` for a generated one; admin): a result per row, rows that exist left unchanged, bad rows reported without stopping the others.",
  }),
  getMonitor: endpoint({
    subject: s("monitors.get"),
    request: z.object({ ...Actor, monitorId: MonitorId }),
    reply: Monitor,
    description: "One monitor (its owner or an admin).",
  }),
  listMonitors: endpoint({
    subject: s("monitors.list"),
    request: z.object({
      ...Actor,
      ownerId: UserId.optional(),
      limit: z.number().int().min(1).max(1_000).default(100),
      /** The previous page's `nextCursor`: monitors after this id. */
      cursor: MonitorId.optional(),
    }),
    reply: MonitorsPage,
    description:
      "Monitors of a user (self or admin), or every monitor for an admin without ownerId, ordered by id, a page at a time.",
  }),
  updateMonitorSettings: endpoint({
    subject: s("monitors.update_settings"),
    request: z.object({ ...Actor, monitorId: MonitorId, change: MonitorSettingsChange }),
    reply: Monitor,
    description:
      "Sets or clears a monitor's overrides (inactivity timeout, raw readings' retention; its owner or an admin).",
  }),
  resetMonitor: endpoint({
    subject: s("monitors.reset"),
    request: z.object({ ...Actor, monitorId: MonitorId }),
    reply: z.object({}),
    description: "Deletes a monitor's readings, keeps the monitor (admin).",
  }),
  deleteMonitor: endpoint({
    subject: s("monitors.delete"),
    request: z.object({ ...Actor, monitorId: MonitorId }),
    reply: z.object({}),
    description: "Deletes a monitor, its credentials and readings (admin).",
  }),
  submitReading: endpoint({
    subject: s("readings.submit"),
    request: z.object({ ...Actor, monitorId: MonitorId, reading: Reading, idempotencyKey: IdempotencyKey.optional() }),
    reply: z.object({
      stored: z.literal(true),
      sequence: z.number().int().describe("The reading's sequence in the readings stream."),
      duplicate: z.boolean().describe("True when this was a retry of a reading stored before (same key)."),
    }),
    description:
      "Feeds a reading into the same JetStream pipeline devices publish to (the monitor itself or an admin) and answers once it is stored and visible to every query.",
  }),
  v1Get: streamEndpoint({
    subject: s("v1.get"),
    request: z.object({
      ...Actor,
      monitorId: MonitorId.optional(),
      startTime: z.number().optional(),
      endTime: z.number().optional(),
    }),
    meta: z.object({}),
    contentType: "application/json",
    description:
      "Seed 002 monitors/get as a JSON stream (it grows with the data): one monitor's `V1MonitorData` (owner or admin) or, for an admin without monitorId, `V1AllMonitorsData`.",
  }),
  latest: endpoint({
    subject: s("readings.latest"),
    request: z.object({ ...Actor, monitorId: MonitorId }),
    reply: z.object({
      values: z.partialRecord(Measurement, z.object({ value: z.number(), at: z.number().int() })),
      foliage_feed: z.string().nullable(),
      root_stream: z.string().nullable(),
    }),
    description: "The latest value of each measurement (owner or admin).",
  }),
  history: endpoint({
    subject: s("readings.history"),
    request: z.object({
      ...Actor,
      monitorId: MonitorId,
      ...Window,
      limit: z.number().int().min(1).max(10_000).default(1_000),
      /** Readings strictly after this timestamp (ms): the previous page's `nextAfter`. */
      after: z.number().int().optional(),
    }),
    reply: z.object({ items: z.array(RawPoint), nextAfter: z.number().int().nullable() }),
    description: "Raw readings in a window, oldest first, a page at a time (owner or admin).",
  }),
  series: endpoint({
    subject: s("readings.series"),
    request: z.object({
      ...Actor,
      monitorId: MonitorId,
      measurement: Measurement,
      from: z.number().int().min(0),
      to: z.number().int().min(0),
      interval: Interval,
    }),
    reply: z.object({ interval: z.string(), points: z.array(SeriesPoint) }),
    description: "avg/min/max/count of one measurement per interval, from per-minute rollups (owner or admin).",
  }),
  seriesColumns: endpoint({
    subject: s("readings.series_columns"),
    request: z.object({
      ...Actor,
      monitorId: MonitorId,
      columns: z.array(SeriesColumn).min(1).max(MAX_SERIES_COLUMNS),
      from: z.number().int().min(0),
      to: z.number().int().min(0),
      interval: Interval,
      fill: Fill.default("none"),
    }),
    reply: z.object({ interval: z.string(), fill: Fill, series: z.array(ColumnSeries) }),
    description:
      "Several measurements per interval, each with its own aggregate (avg, min, max, count, sum, stddev, last), empty buckets filled as asked, from per-minute rollups (owner or admin).",
  }),
} as const;
