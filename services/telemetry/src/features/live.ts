import type { JetStreamClient } from "@nats-io/jetstream";
import type { Logger } from "pino";
import type { StoredReading } from "../ingest/live-publisher.ts";
import { LivePublisher } from "../ingest/live-publisher.ts";

export interface Live {
  /** Publishes a round's stored readings to the live stream without waiting (ingest's hook). */
  publishRound(stored: readonly StoredReading[]): void;
  /** Waits for the publishes in flight. */
  stop(): Promise<void>;
}

/** Live readings for SSE clients (`TELEMETRY_LIVE`, which `openJetStream` makes). */
export function startLive({ js, log }: { js: JetStreamClient; log: Logger }): Live {
  const live = new LivePublisher(js, log.child({ component: "live" }));
  return { publishRound: (stored) => live.publishRound(stored), stop: () => live.idle() };
}
