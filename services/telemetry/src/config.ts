import { baseConfigSchema, env, mongoConfigSchema } from "@trellis/runtime";
import type { z } from "zod";

export const telemetryConfigSchema = baseConfigSchema.extend(mongoConfigSchema.shape).extend({
  MONGO_DB: mongoConfigSchema.shape.MONGO_DB.default("trellis_telemetry"),
  /** Readings per `insertMany`. */
  INGEST_BATCH_SIZE: env.int(1, 10_000).default(500),
  /**
   * Most readings one ingest round takes: inserted a batch at a time, then one rollup and one
   * monitor bulk write for all of them. Rounds take what is waiting, so they only grow under load.
   */
  INGEST_ROUND_SIZE: env.int(1, 100_000).default(5_000),
  /** How long an ingest round waits for a full batch when fewer readings are waiting. */
  INGEST_MAX_WAIT_MS: env.int(0, 60_000).default(5),
  /** How long the readings stream keeps messages (consumed or not). */
  READINGS_MAX_AGE_DAYS: env.int(1, 3_650).default(7),
  /**
   * Commands to devices: how often a pending persistent command is offered again to its device
   * (also at once when the device is seen publishing), and expiries and overdue answers checked.
   */
  COMMAND_RETRY_INTERVAL_MS: env.int(50, 600_000).default(5_000),
});

export type TelemetryConfig = z.output<typeof telemetryConfigSchema>;
