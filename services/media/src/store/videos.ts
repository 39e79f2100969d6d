import type { TranscriptFormat, Video, VideoType } from "@trellis/contracts";
import type { Db } from "mongodb";
import { type FileDoc, type FileUpload, GridFsFiles } from "./gridfs.ts";

/**
 * A video's metadata lives in its GridFS files document (`videos.files`, field `metadata`), with
 * the transcript: written in one insert after the last chunk, so a video exists exactly when its
 * bytes are complete (see `PicturesStore`).
 */
export interface VideoMeta {
  ownerId: string;
  type: VideoType;
  /** Filled in when the last byte is in, before the files document is written. */
  sha256: string;
  durationMs: number | null;
  width: number | null;
  height: number | null;
  codec: string | null;
  transcript: string | null;
  transcriptFormat: TranscriptFormat | null;
  transcriptUpdatedAt: Date | null;
  /** Kept beside the transcript so listings, which leave the transcript out, can tell. */
  hasTranscript: boolean;
}

export type VideoDoc = FileDoc<VideoMeta>;

export const videoView = (doc: VideoDoc): Video => ({
  id: doc._id,
  ownerId: doc.metadata.ownerId,
  filename: doc.filename,
  type: doc.metadata.type,
  size: doc.length,
  sha256: doc.metadata.sha256,
  durationMs: doc.metadata.durationMs,
  width: doc.metadata.width,
  height: doc.metadata.height,
  codec: doc.metadata.codec,
  createdAt: doc.uploadDate.toISOString(),
  hasTranscript: doc.metadata.hasTranscript,
});

/** Listings leave the transcripts (up to 1 MB each) in the database. */
const WITHOUT_TRANSCRIPT = { "metadata.transcript": 0 } as const;

/** What replacing a transcript changes. */
export interface TranscriptUpdate {
  text: string;
  format: TranscriptFormat;
  at: Date;
}

/** Videos (bucket `videos`). */
export class VideosStore {
  readonly files: GridFsFiles<VideoMeta>;

  constructor(db: Db) {
    this.files = new GridFsFiles<VideoMeta>(db, "videos");
  }

  ensureIndexes(): Promise<void> {
    return this.files.ensureIndexes("ownerId");
  }

  /** See `GridFsFiles.openUpload`: `meta` is completed (sha256, probe) before `finish()`. */
  openUpload(id: string, filename: string, meta: VideoMeta): FileUpload {
    return this.files.openUpload(id, filename, meta);
  }

  find(id: string): Promise<VideoDoc | null> {
    return this.files.find(id);
  }

  page(ownerId: string, limit: number, after?: { at: number; id: string }): Promise<VideoDoc[]> {
    return this.files.page({ "metadata.ownerId": ownerId }, limit, after, WITHOUT_TRANSCRIPT);
  }

  read(doc: VideoDoc, start: number, end: number): AsyncGenerator<Uint8Array> {
    return this.files.read(doc, start, end);
  }

  delete(id: string): Promise<boolean> {
    return this.files.delete(id);
  }

  /** Replaces a video's transcript; false when the video is gone. */
  async setTranscript(id: string, update: TranscriptUpdate): Promise<boolean> {
    const res = await this.files.files.updateOne({ _id: id }, {
      $set: {
        "metadata.transcript": update.text,
        "metadata.transcriptFormat": update.format,
        "metadata.transcriptUpdatedAt": update.at,
        "metadata.hasTranscript": true,
      },
    } as never);
    return res.matchedCount === 1;
  }

  /** Every video of an owner (id and owner only), a batch at a time. */
  eachOf(ownerId: string): AsyncGenerator<VideoDoc> {
    return this.files.each({ "metadata.ownerId": ownerId });
  }
}
