import { RetentionPolicy } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  TrellisError,
  WEBHOOK_EVENT_ID_HEADER,
  WEBHOOK_SIGNATURE_HEADER,
  WEBHOOKS_CONSUMER,
  WEBHOOKS_STREAM,
  webhookJobs,
} from "@trellis/contracts";
import {
  consume,
  type DurableConsumer,
  type EgressPolicy,
  EgressRefusedError,
  type EgressResponse,
  egressRequest,
  nanos,
  PoisonMessageError,
  type StreamSpec,
} from "@trellis/runtime";
import type { Logger } from "pino";
import { signatureHeader } from "../domain/webhook-signature.ts";
import type { WebhooksStore } from "../store/webhooks.ts";

export interface WebhookDeliveryOptions {
  nc: NatsConnection;
  /** Of the dead-letter stream, when this creates it (JETSTREAM_REPLICAS). */
  replicas?: number;
  webhooks: WebhooksStore;
  log: Logger;
  /** What a webhook may reach: each delivery resolves the host, checks it and connects to the checked address. */
  egress: EgressPolicy;
  /** How long one POST may take. */
  timeoutMs: number;
  /** First retry delay; doubled on each retry up to `maxDelayMs`. */
  retryDelayMs: number;
  maxDelayMs: number;
}

/** The notifications work queue: each job removed once acked, deduplicated on the event id for 2 minutes. */
export const webhooksStreamSpec = (): StreamSpec => ({
  name: WEBHOOKS_STREAM,
  subjects: [webhookJobs.deliver.subject],
  retention: RetentionPolicy.Workqueue,
  duplicate_window: nanos(2 * 60_000),
});

/** Statuses worth retrying besides 5xx: the receiver asks us to come back later. */
const RETRY_STATUSES = new Set([408, 425, 429]);

/**
 * Delivers alarm notifications from the `TELEMETRY_WEBHOOKS` work queue, through the egress policy
 * (a pinning agent: the host is resolved, checked and connected to at the checked address; a
 * forbidden address is dead-lettered at once; redirects are not followed): one durable consumer
 * shared by every instance, so each job goes to one instance. The body is the `AlarmEvent` JSON,
 * signed (`Trellis-Signature`) with the user's secret at delivery time. 2xx → done; 5xx, 408, 425,
 * 429 or a network error → redelivered with exponential backoff (within the consumer's
 * `max_deliver`, then dead-lettered); another 4xx → dead-lettered at once (retrying cannot help).
 * A user without a webhook (removed meanwhile) → done.
 */
export function startWebhookDelivery(opts: WebhookDeliveryOptions): Promise<DurableConsumer> {
  return consume(opts.nc, {
    service: "telemetry",
    stream: WEBHOOKS_STREAM,
    consumer: WEBHOOKS_CONSUMER,
    schema: webhookJobs.deliver.schema,
    retry: { delayMs: opts.retryDelayMs, factor: 2, maxDelayMs: opts.maxDelayMs },
    ...(opts.replicas ? { replicas: opts.replicas } : {}),
    log: opts.log,
    handler: async ({ userId, event }, ctx) => {
      const hook = await opts.webhooks.find(userId);
      if (!hook) return;
      const body = JSON.stringify(event);
      let res: EgressResponse;
      try {
        res = await egressRequest(opts.egress, hook.url, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            "user-agent": "Trellis-Webhooks/1",
            [WEBHOOK_SIGNATURE_HEADER]: signatureHeader(hook.secret, body, Math.floor(Date.now() / 1000)),
            [WEBHOOK_EVENT_ID_HEADER]: event.id,
          },
          body,
          signal: AbortSignal.timeout(opts.timeoutMs),
        });
      } catch (err) {
        // An address the policy forbids (a name rebound since the webhook was set): never retried.
        if (err instanceof EgressRefusedError) {
          ctx.log.warn({ userId, eventId: event.id, reason: err.message }, "webhook refused by the egress policy");
          throw new PoisonMessageError(`webhook refused: ${err.message}; not retried`);
        }
        throw new TrellisError("unavailable", `webhook not reachable: ${(err as Error).message}`, { cause: err });
      }
      if (res.status >= 200 && res.status < 300) {
        ctx.log.info({ userId, eventId: event.id, status: res.status }, "webhook delivered");
        return;
      }
      if (res.status >= 500 || RETRY_STATUSES.has(res.status)) {
        throw new TrellisError("unavailable", `webhook answered ${res.status}`);
      }
      throw new PoisonMessageError(`webhook answered ${res.status}; not retried`);
    },
  });
}
