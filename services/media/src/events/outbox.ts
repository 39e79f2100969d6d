import { mediaEvents, type TranscriptFormat } from "@trellis/contracts";
import { type EventPublisher, Outbox } from "@trellis/runtime";
import type { Db } from "mongodb";
import type { Logger } from "pino";
import { type VideosStore, videoView } from "../store/videos.ts";

/** A media event waiting to be published: what it announces, not yet its payload. */
export type MediaEntry = { id: "event"; videoId: string; at: number } & (
  | { kind: "video_uploaded" }
  | { kind: "video_deleted"; ownerId: string }
  | { kind: "transcript_updated"; ownerId: string; format: TranscriptFormat }
);

/** An event recorded before its change: `send` once the change is committed, `cancel` when it did not happen. */
export interface PreparedEvent {
  send(): Promise<void>;
  cancel(): Promise<void>;
}

export interface MediaOutboxOptions {
  db: Db;
  videos: VideosStore;
  events: EventPublisher;
  log: Logger;
  retryAfterMs: number;
  sweepIntervalMs: number;
}

/**
 * Media's events through the runtime `Outbox` (collection `outbox`, one holder per event): an
 * upload's, a deletion's or a transcript's event is recorded *before* the write that makes it
 * true (a GridFS files document, or its removal, is not a write media can add a field to), sent
 * right after it, and republished by the sweeper when NATS was down or the instance died. The
 * deliverer publishes only what did happen: `video_uploaded` for a video that exists (its payload
 * read from the stored document), `video_deleted` for one that no longer does, `transcript_updated`
 * once the transcript is at least that new; anything else is dropped (the write never happened).
 * Message ids are the ones consumers always saw (`video_uploaded.<id>` …), so a repeat is stored once.
 */
export class MediaOutbox {
  readonly outbox: Outbox<MediaEntry>;
  private readonly opts: MediaOutboxOptions;

  constructor(opts: MediaOutboxOptions) {
    this.opts = opts;
    this.outbox = new Outbox<MediaEntry>({
      collection: opts.db.collection("outbox"),
      deliver: (_holder, entry) => this.deliver(entry),
      log: opts.log,
      retryAfterMs: opts.retryAfterMs,
      sweepIntervalMs: opts.sweepIntervalMs,
      ownCollection: true,
    });
  }

  /** Records the event before its change is written. */
  async prepare(
    entry: MediaEntry extends infer U ? (U extends MediaEntry ? Omit<U, "id"> : never) : never,
  ): Promise<PreparedEvent> {
    const full = { ...entry, id: "event" } as MediaEntry;
    const holder = `${entry.kind}:${entry.videoId}:${entry.at}`;
    await this.outbox.add(holder, [full], entry.at);
    return {
      send: () => this.outbox.deliverNow(holder, [full]),
      cancel: () => this.outbox.discard(holder, [full.id]),
    };
  }

  private async deliver(entry: MediaEntry): Promise<void> {
    const { videos, events, log } = this.opts;
    const at = new Date(entry.at).toISOString();
    const doc = await videos.find(entry.videoId);
    switch (entry.kind) {
      case "video_uploaded":
        if (!doc) return log.info({ videoId: entry.videoId }, "video_uploaded dropped: the video was never stored");
        return events.publish(mediaEvents.videoUploaded, { video: videoView(doc), at }, `video_uploaded.${doc._id}`);
      case "video_deleted":
        if (doc) return log.warn({ videoId: entry.videoId }, "video_deleted dropped: the video was not deleted");
        return events.publish(
          mediaEvents.videoDeleted,
          { videoId: entry.videoId, ownerId: entry.ownerId, reason: "deleted", at },
          `video_deleted.${entry.videoId}`,
        );
      case "transcript_updated":
        if (!doc || (doc.metadata.transcriptUpdatedAt?.getTime() ?? 0) < entry.at) {
          return log.info({ videoId: entry.videoId }, "transcript_updated dropped: the transcript was not stored");
        }
        return events.publish(
          mediaEvents.transcriptUpdated,
          { videoId: entry.videoId, ownerId: entry.ownerId, format: entry.format, at },
          `transcript_updated.${entry.videoId}.${entry.at}`,
        );
    }
  }
}
