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
  type DurableSpec,
  type EgressConfig,
  type EgressPolicy,
  EgressRefusedError,
  type EgressResponse,
  egressPolicyOf,
  egressRequest,
  nanos,
  PoisonMessageError,
  type StreamSpec,
} from "@trellis/runtime";
import type { Logger } from "pino";
import type { TelemetryConfig } from "../config.ts";
import type { Stores } from "../connections.ts";
import { signatureHeader } from "../domain/webhook-signature.ts";

export interface WebhooksDeps {
  nc: NatsConnection;
  config: Pick<
    TelemetryConfig,
    "JETSTREAM_REPLICAS" | "WEBHOOK_TIMEOUT_MS" | "WEBHOOK_RETRY_MS" | "WEBHOOK_MAX_RETRY_MS"
  >;
  stores: Pick<Stores, "webhooks">;
  /** What a webhook may reach: each delivery resolves the host, checks it and connects to the checked address. */
  egress: EgressPolicy;
  log: Logger;
}

/** A job with the same event id within this window is queued once. */
const DUPLICATE_WINDOW_MS = 2 * 60_000;
/** A job's ack wait beyond the POST's own timeout: resolving the host, signing, acking. */
const ACK_WAIT_MARGIN_MS = 20_000;

/** The notifications work queue: each job removed once acked, deduplicated on the event id. */
export const webhooksStreamSpec = (): StreamSpec => ({
  name: WEBHOOKS_STREAM,
  subjects: [webhookJobs.deliver.subject],
  retention: RetentionPolicy.Workqueue,
  duplicate_window: nanos(DUPLICATE_WINDOW_MS),
});

/** One consumer shared by every instance; a job is dead-lettered after `maxDeliver` deliveries. */
export const webhooksConsumerSpec = (timeoutMs: number, maxDeliver: number): DurableSpec => ({
  durable_name: WEBHOOKS_CONSUMER,
  ack_wait: nanos(timeoutMs + ACK_WAIT_MARGIN_MS),
  max_deliver: maxDeliver,
});

/**
 * What webhooks may reach: only public addresses unless ALLOW_PRIVATE_EGRESS (or its deprecated
 * alias WEBHOOK_ALLOW_PRIVATE) or EGRESS_ALLOW_HOSTS say otherwise. Checked when a webhook is set,
 * and again by each delivery.
 */
export function webhookEgressPolicy(
  config: EgressConfig & Pick<TelemetryConfig, "WEBHOOK_ALLOW_PRIVATE">,
  log: Logger,
): EgressPolicy {
  if (config.WEBHOOK_ALLOW_PRIVATE !== undefined) {
    log.warn("WEBHOOK_ALLOW_PRIVATE is deprecated: use ALLOW_PRIVATE_EGRESS (docs/egress.md)");
  }
  const egress = egressPolicyOf({
    ...config,
    ALLOW_PRIVATE_EGRESS: config.ALLOW_PRIVATE_EGRESS || config.WEBHOOK_ALLOW_PRIVATE === true,
  });
  if (egress.allowPrivate) log.warn("ALLOW_PRIVATE_EGRESS=true: webhooks may reach private networks");
  return egress;
}

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
export function startWebhookDelivery({ nc, config, stores, egress, log }: WebhooksDeps): Promise<DurableConsumer> {
  return consume(nc, {
    service: "telemetry",
    stream: WEBHOOKS_STREAM,
    consumer: WEBHOOKS_CONSUMER,
    schema: webhookJobs.deliver.schema,
    retry: { delayMs: config.WEBHOOK_RETRY_MS, factor: 2, maxDelayMs: config.WEBHOOK_MAX_RETRY_MS },
    replicas: config.JETSTREAM_REPLICAS,
    log: log.child({ component: "webhooks" }),
    handler: async ({ userId, event }, ctx) => {
      const hook = await stores.webhooks.find(userId);
      if (!hook) return;
      const body = JSON.stringify(event);
      let res: EgressResponse;
      try {
        res = await egressRequest(egress, hook.url, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            "user-agent": "Trellis-Webhooks/1",
            [WEBHOOK_SIGNATURE_HEADER]: signatureHeader(hook.secret, body, Math.floor(Date.now() / 1000)),
            [WEBHOOK_EVENT_ID_HEADER]: event.id,
          },
          body,
          signal: AbortSignal.timeout(config.WEBHOOK_TIMEOUT_MS),
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
