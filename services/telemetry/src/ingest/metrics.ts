import { counter, histogram } from "@trellis/runtime";

/** Ingest metrics (the consumer's pending/redelivered gauges come from the runtime's sampler). */
export const ingestMetrics = {
  roundSize: histogram({
    name: "trellis_telemetry_ingest_round_size",
    help: "Readings messages per ingest round (rounds grow under load: group commit)",
    buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000],
  }),
  roundSeconds: histogram({
    name: "trellis_telemetry_ingest_round_duration_seconds",
    help: "Time to validate, write and ack one ingest round",
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  }),
  stored: counter({
    name: "trellis_telemetry_readings_stored_total",
    help: "Readings written to the database (a redelivered reading already stored is not counted again)",
  }),
  rejected: counter({
    name: "trellis_telemetry_readings_rejected_total",
    help: "Readings refused (invalid, or for no such monitor) and dead-lettered as reading-rejected events",
  }),
  failedRounds: counter({
    name: "trellis_telemetry_ingest_rounds_failed_total",
    help: "Ingest rounds whose writes failed (their messages are redelivered)",
  }),
};
