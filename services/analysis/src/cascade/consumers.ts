import type { JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  AUTH_EVENTS_STREAM,
  AUTH_EVENTS_SUBJECTS,
  authEvents,
  MEDIA_EVENTS_STREAM,
  MEDIA_EVENTS_SUBJECTS,
  mediaEvents,
} from "@trellis/contracts";
import {
  consume,
  type DurableConsumer,
  type Ensured,
  ensureDurableConsumer,
  ensureStream,
  nanos,
  streamExists,
} from "@trellis/runtime";
import type { Logger } from "pino";
import { type CascadeDeps, removeAnalysesOf } from "./remove.ts";

/** Durable consumer names: shared by every analysis instance, they survive restarts. */
export const VIDEO_DELETED_CONSUMER = "analysis-video-deleted";
export const USER_DELETED_CONSUMER = "analysis-user-deleted";

const RETRY = { delayMs: 2_000, maxDelayMs: 60_000 };

/**
 * Creates what the cascade consumers read from: media's and auth's event streams (when analysis
 * starts before their owners, as they would create them) and the two durable consumers. What
 * JetStream kept of existing ones is returned for `logSetupWarnings`.
 */
export async function ensureCascadeConsumers(jsm: JetStreamManager, replicas = 1): Promise<Ensured<unknown>[]> {
  const kept: Ensured<unknown>[] = [];
  if (!(await streamExists(jsm, MEDIA_EVENTS_STREAM))) {
    kept.push(
      await ensureStream(jsm, { name: MEDIA_EVENTS_STREAM, subjects: [MEDIA_EVENTS_SUBJECTS], num_replicas: replicas }),
    );
  }
  if (!(await streamExists(jsm, AUTH_EVENTS_STREAM))) {
    kept.push(
      await ensureStream(jsm, { name: AUTH_EVENTS_STREAM, subjects: [AUTH_EVENTS_SUBJECTS], num_replicas: replicas }),
    );
  }
  // Stopping an active job waits for its holder (seconds), and a user may have many analyses.
  const ackWait = nanos(120_000);
  kept.push(
    await ensureDurableConsumer(jsm, MEDIA_EVENTS_STREAM, {
      durable_name: VIDEO_DELETED_CONSUMER,
      filter_subject: mediaEvents.videoDeleted.subject,
      ack_wait: ackWait,
    }),
    await ensureDurableConsumer(jsm, AUTH_EVENTS_STREAM, {
      durable_name: USER_DELETED_CONSUMER,
      filter_subject: authEvents.userDeleted.subject,
      ack_wait: ackWait,
    }),
  );
  return kept;
}

/**
 * A deleted video's analyses go with it: jobs stopped, keyframes deleted through media, questions,
 * answers and records removed. Durable: a deletion published while analysis was down is handled
 * when it comes back; a failure (media unavailable, a job still stopping) is retried later; a
 * malformed event is dead-lettered.
 */
export function startVideoDeletedCascade(nc: NatsConnection, d: CascadeDeps, log: Logger): Promise<DurableConsumer> {
  return consume(nc, {
    service: "analysis",
    stream: MEDIA_EVENTS_STREAM,
    consumer: VIDEO_DELETED_CONSUMER,
    schema: mediaEvents.videoDeleted.schema,
    retry: RETRY,
    ...(d.replicas ? { replicas: d.replicas } : {}),
    log,
    handler: async ({ videoId, reason }, ctx) => {
      const removed = await removeAnalysesOf(d, { videoId });
      if (removed.length > 0) ctx.log.info({ videoId, reason, analyses: removed }, "analyses of deleted video removed");
    },
  });
}

/**
 * A deleted user's analyses (of all their videos) and their own answers to anyone's questions go
 * too. Media removes the user's pictures (keyframes included) and publishes `video_deleted` for
 * each video, which the other consumer handles idempotently.
 */
export function startUserDeletedCascade(nc: NatsConnection, d: CascadeDeps, log: Logger): Promise<DurableConsumer> {
  return consume(nc, {
    service: "analysis",
    stream: AUTH_EVENTS_STREAM,
    consumer: USER_DELETED_CONSUMER,
    schema: authEvents.userDeleted.schema,
    retry: RETRY,
    ...(d.replicas ? { replicas: d.replicas } : {}),
    log,
    handler: async ({ userId }, ctx) => {
      const removed = await removeAnalysesOf(d, { ownerId: userId });
      const answers = await d.answers.removeOfUser(userId);
      if (removed.length > 0 || answers > 0) {
        ctx.log.info({ userId, analyses: removed, answers }, "analyses and answers of deleted user removed");
      }
    },
  });
}
