import type { NatsConnection } from "@nats-io/transport-node";
import type { EgressPolicy } from "@trellis/runtime";
import type { Logger } from "pino";
import type { PublishEvent } from "./events.ts";
import type { AnalysisQueue } from "./jobs/queue.ts";
import type { AnalysesStore } from "./store/analyses.ts";

/** Everything the handlers work with, assembled once in main.ts. */
export interface AnalysisContext {
  nc: NatsConnection;
  store: AnalysesStore;
  queue: AnalysisQueue;
  publish: PublishEvent;
  log: Logger;
  /** How long a cancel waits for the worker holding the job to confirm. */
  cancelWaitMs: number;
  /** What URL analyses may reach (checked when one is started, and by the jobs' egress proxy). */
  egress: EgressPolicy;
}
