import type { NatsConnection } from "@nats-io/transport-node";
import type { EventPublisher } from "@trellis/runtime";
import type { Logger } from "pino";
import type { MediaConfig } from "./config.ts";
import type { MediaOutbox } from "./events/outbox.ts";
import type { PicturesStore } from "./store/pictures.ts";
import type { TusStore } from "./store/tus.ts";
import type { UploadsStore } from "./store/uploads.ts";
import type { Usage } from "./store/usage.ts";
import type { VideosStore } from "./store/videos.ts";

/** Everything the handlers work with, assembled once in main.ts. */
export interface MediaContext {
  nc: NatsConnection;
  pictures: PicturesStore;
  videos: VideosStore;
  events: EventPublisher;
  /** Upload, deletion and transcript events, through the outbox. */
  outbox: MediaOutbox;
  usage: Usage;
  uploads: UploadsStore;
  tus: TusStore;
  log: Logger;
  config: Pick<
    MediaConfig,
    | "PICTURE_MAX_BYTES"
    | "VIDEO_MAX_BYTES"
    | "MEDIA_QUOTA_BYTES"
    | "STALE_UPLOAD_MS"
    | "TUS_EXPIRY_MS"
    | "FFPROBE_PATH"
    | "FFPROBE_TIMEOUT_MS"
  >;
}
