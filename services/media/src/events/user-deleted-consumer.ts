import type { NatsConnection } from "@nats-io/transport-node";
import { AUTH_EVENTS_STREAM, authEvents, mediaEvents } from "@trellis/contracts";
import { consume, type DurableConsumer, type EventPublisher, RETRY_POLICIES } from "@trellis/runtime";
import type { Logger } from "pino";
import type { PicturesStore } from "../store/pictures.ts";
import type { TusStore } from "../store/tus.ts";
import type { VideosStore } from "../store/videos.ts";

/** Durable name of the cascade consumer: shared by every instance, survives restarts. */
export const USER_DELETED_CONSUMER = "media-user-deleted";

export interface UserDeletedOptions {
  nc: NatsConnection;
  /** Of the dead-letter stream, when this creates it (JETSTREAM_REPLICAS). */
  replicas?: number;
  pictures: PicturesStore;
  videos: VideosStore;
  tus: TusStore;
  events: EventPublisher;
  log: Logger;
}

/**
 * Removes every picture (with its thumbnail), video and unfinished tus upload of a deleted user, and publishes
 * `video_deleted` for each video. Durable: a deletion published while media was down is handled
 * when it comes back; a failure is retried later (every step is idempotent, and the events carry
 * a message id, so a retry publishes each once); a malformed event is dead-lettered.
 */
export function startUserDeletedCascade({
  nc,
  replicas,
  pictures,
  videos,
  tus,
  events,
  log,
}: UserDeletedOptions): Promise<DurableConsumer> {
  return consume(nc, {
    service: "media",
    stream: AUTH_EVENTS_STREAM,
    consumer: USER_DELETED_CONSUMER,
    schema: authEvents.userDeleted.schema,
    retry: RETRY_POLICIES.userDeleted,
    ...(replicas ? { replicas } : {}),
    log,
    handler: async ({ userId }, ctx) => {
      const removedPictures = await pictures.deleteAllOf(userId);
      const removedVideos: string[] = [];
      for await (const doc of videos.eachOf(userId)) {
        // The event first: if the deletion then fails, the retry finds the video again and
        // publishes with the same message id (stored once); the other way round, a failure
        // between the two would lose the event for good.
        await events.publish(
          mediaEvents.videoDeleted,
          { videoId: doc._id, ownerId: userId, reason: "user_deleted", at: new Date().toISOString() },
          `video_deleted.${doc._id}`,
        );
        await videos.delete(doc._id);
        removedVideos.push(doc._id);
      }
      const removedUploads = await tus.removeAllOf(userId);
      if (removedPictures > 0 || removedVideos.length > 0 || removedUploads > 0) {
        ctx.log.info(
          { userId, pictures: removedPictures, videos: removedVideos, uploads: removedUploads },
          "media of deleted user removed",
        );
      }
    },
  });
}
