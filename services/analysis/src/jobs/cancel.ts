import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { ANALYSIS_CANCEL_BROADCAST, AnalysisCancelBroadcast } from "@trellis/contracts";
import { decodeJson, encodeJson } from "@trellis/runtime";
import type { Worker } from "bullmq";
import type { Logger } from "pino";
import { CANCELLED } from "../errors/cancelled-error.ts";

/** The abort reason of jobs handed back at shutdown (a cancel's is `CANCELLED`). */
export const SHUTTING_DOWN = "shutdown";

/** Asks every analysis instance to cancel a job; the one whose worker holds it does. */
export function broadcastCancel(nc: NatsConnection, analysisId: string): void {
  nc.publish(ANALYSIS_CANCEL_BROADCAST, encodeJson(AnalysisCancelBroadcast.parse({ analysisId })));
}

/** Listens to cancel broadcasts (no queue group: every instance hears each) for this worker. */
export function listenForCancels(nc: NatsConnection, worker: Pick<Worker, "cancelJob">, log: Logger): Subscription {
  const sub = nc.subscribe(ANALYSIS_CANCEL_BROADCAST);
  void (async () => {
    for await (const msg of sub) {
      const parsed = AnalysisCancelBroadcast.safeParse(decodeJson(msg.data));
      if (!parsed.success) continue;
      if (worker.cancelJob(parsed.data.analysisId, CANCELLED)) {
        log.info({ analysisId: parsed.data.analysisId }, "cancelling a job this instance holds");
      }
    }
  })();
  return sub;
}
