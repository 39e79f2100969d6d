import { baseConfigSchema, env, mongoConfigSchema } from "@trellis/runtime";
import type { z } from "zod";

export const telemetryConfigSchema = baseConfigSchema.extend(mongoConfigSchema.shape).extend({
  MONGO_DB: mongoConfigSchema.shape.MONGO_DB.default("trellis_telemetry"),
  /** Most readings written together (one insert, one rollup and one monitor bulk write). */
  INGEST_BATCH_SIZE: env.int(1, 10_000).default(500),
  /** How long a partial batch waits for more readings before it is written. */
  INGEST_MAX_WAIT_MS: env.int(1, 60_000).default(100),
  /** How long the readings stream keeps messages (consumed or not). */
  READINGS_MAX_AGE_DAYS: env.int(1, 3_650).default(7),
});

export type TelemetryConfig = z.output<typeof telemetryConfigSchema>;
