import { baseConfigSchema, egressConfigSchema, env, mongoConfigSchema, outboxConfigSchema } from "@trellis/runtime";
import type { z } from "zod";

export const telemetryConfigSchema = baseConfigSchema
  .extend(mongoConfigSchema.shape)
  .extend(outboxConfigSchema.shape)
  .extend({
    MONGO_DB: mongoConfigSchema.shape.MONGO_DB.default("trellis_telemetry"),
    /** Readings an ingest round waits for (at most INGEST_MAX_WAIT_MS) before it starts with fewer. */
    INGEST_BATCH_SIZE: env.int(1, 10_000).default(500),
    /**
     * How readings are stored: `auto` picks native time-series collections where the server has
     * them (MongoDB ≥ 5) and buckets otherwise (FerretDB); the others force one.
     */
    READINGS_LAYOUT: env.oneOf(["auto", "buckets", "timeseries"]).default("auto"),
    /** Readings moved per step when migrating from one document per reading (earlier versions) on start. */
    READINGS_MIGRATION_BATCH: env.int(1, 100_000).default(5_000),
    /**
     * Most readings one ingest round takes: stored as one bucket per monitor and minute in one
     * insert, then one rollup and one monitor bulk write for all of them. Rounds take what is
     * waiting, so they only grow under load.
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
    /** Seconds without a reading before a monitor is offline (a monitor may override it). */
    OFFLINE_AFTER_SECONDS: env.int(1, 30 * 86_400).default(300),
    /** How often the presence sweeper looks for monitors gone silent. */
    PRESENCE_SWEEP_INTERVAL_MS: env.int(100, 3_600_000).default(5_000),
    /** Days raw readings are kept (a monitor may override it). */
    READINGS_RETENTION_DAYS: env.int(1, 3_650).default(30),
    /** Days per-minute rollups are kept (only once they are downsampled into hours). */
    ROLLUP_MINUTE_RETENTION_DAYS: env.int(1, 3_650).default(90),
    /** Days hourly rollups are kept (only once they are downsampled into days). */
    ROLLUP_HOUR_RETENTION_DAYS: env.int(1, 36_500).default(730),
    /** Days daily rollups are kept; 0 keeps them forever. */
    ROLLUP_DAY_RETENTION_DAYS: env.int(0, 36_500).default(0),
    /** How often retention and downsampling run (the first run comes one interval after start). */
    RETENTION_INTERVAL_MS: env.int(100, 86_400_000).default(600_000),
    /** Most documents one retention delete removes. */
    RETENTION_BATCH_SIZE: env.int(1, 100_000).default(1_000),
    /** Pause between two retention deletes, so ingest keeps the database. */
    RETENTION_BATCH_PAUSE_MS: env.int(0, 60_000).default(100),
    /**
     * Complete hours are downsampled this long after they end (readings arriving later than that,
     * by their own timestamp, reach the minute rollups but not the hour already written).
     */
    DOWNSAMPLE_DELAY_MS: env.int(0, 86_400_000).default(120_000),
    /** Alarm rules cached per monitor are reloaded after this long even without a change notice. */
    ALARM_RULES_CACHE_MS: env.int(100, 3_600_000).default(60_000),
    /** A monitor's alarm state that only saw in-range readings is written at most this often. */
    ALARM_STATE_FLUSH_MS: env.int(0, 600_000).default(2_000),
    /** How long one webhook POST may take. */
    WEBHOOK_TIMEOUT_MS: env.int(100, 60_000).default(10_000),
    /** First webhook retry delay, doubled on each retry up to `WEBHOOK_MAX_RETRY_MS`. */
    WEBHOOK_RETRY_MS: env.int(10, 3_600_000).default(1_000),
    /** Longest delay between two webhook retries. */
    WEBHOOK_MAX_RETRY_MS: env.int(10, 86_400_000).default(300_000),
    /** Deliveries of one notification before it is dead-lettered. */
    WEBHOOK_MAX_DELIVER: env.int(1, 1_000).default(15),
    /** Deprecated alias of ALLOW_PRIVATE_EGRESS (either one set to true allows private webhooks). */
    WEBHOOK_ALLOW_PRIVATE: env.bool().optional(),
  })
  // ALLOW_PRIVATE_EGRESS, EGRESS_ALLOW_HOSTS, EGRESS_DNS_SERVERS: what webhooks may reach.
  .extend(egressConfigSchema.shape);

export type TelemetryConfig = z.output<typeof telemetryConfigSchema>;
