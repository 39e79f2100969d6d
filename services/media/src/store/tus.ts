import { randomUUID } from "node:crypto";
import type { TranscriptFormat, TusUpload } from "@trellis/contracts";
import { Binary, type Collection, type Db } from "mongodb";
import { CHUNK_BYTES, type GridFsFiles } from "./gridfs.ts";
import type { VideoMeta } from "./videos.ts";

/**
 * A resumable (tus) upload in progress (collection `tus_uploads`). Its bytes live in the videos
 * bucket's chunks (`videos.chunks`, `files_id` = the upload's id, GridFS's 255 KiB chunks), written
 * as they come; the bytes after the last full chunk are kept here (`tail`) until the next PATCH
 * fills it or the upload ends. `offset` = full chunks × 255 KiB + tail length, always the bytes
 * held durably. No `videos.files` document exists until the last byte: then it is a video.
 */
export interface TusDoc {
  _id: string;
  ownerId: string;
  filename: string;
  transcript: string | null;
  transcriptFormat: TranscriptFormat | null;
  length: number;
  offset: number;
  tail: Binary;
  createdAt: Date;
  expiresAt: Date;
  /** A PATCH in progress holds the upload (one writer at a time) until `lockedUntil`. */
  lock: string | null;
  lockedUntil: Date;
}

export const tusView = (d: TusDoc): TusUpload => ({
  id: d._id,
  ownerId: d.ownerId,
  filename: d.filename,
  length: d.length,
  offset: d.offset,
  expiresAt: d.expiresAt.toISOString(),
});

/**
 * A PATCH's lease on its upload, renewed every quarter of it while the PATCH runs (see the tus
 * handler): short, so that an upload whose writer's process died (kill -9) is free again within
 * seconds and the client's resumed PATCH is not refused as a conflict for long.
 */
export const LOCK_MS = 4_000;

export class TusStore {
  readonly docs: Collection<TusDoc>;
  readonly videos: GridFsFiles<VideoMeta>;

  constructor(db: Db, videos: GridFsFiles<VideoMeta>) {
    this.videos = videos;
    this.docs = db.collection<TusDoc>("tus_uploads");
  }

  async ensureIndexes(): Promise<void> {
    await this.docs.createIndex({ expiresAt: 1 }, { name: "expiresAt" });
    await this.docs.createIndex({ ownerId: 1 }, { name: "ownerId" });
  }

  async create(d: Omit<TusDoc, "offset" | "tail" | "lock" | "lockedUntil" | "createdAt">): Promise<TusDoc> {
    const doc: TusDoc = {
      ...d,
      offset: 0,
      tail: new Binary(Buffer.alloc(0)),
      createdAt: new Date(),
      lock: null,
      lockedUntil: new Date(0),
    };
    await this.docs.insertOne(doc);
    return doc;
  }

  /** An upload that has not expired, or null. */
  async find(id: string): Promise<TusDoc | null> {
    return this.docs.findOne({ _id: id, expiresAt: { $gt: new Date() } });
  }

  /**
   * Takes the upload for one writer at `offset`: null when it is held by another writer (or gone);
   * the doc (whose offset the caller compares) otherwise.
   */
  async claim(id: string): Promise<{ doc: TusDoc; lock: string } | null> {
    const lock = randomUUID();
    const now = new Date();
    const doc = await this.docs.findOneAndUpdate(
      { _id: id, expiresAt: { $gt: now }, lockedUntil: { $lte: now } },
      { $set: { lock, lockedUntil: new Date(now.getTime() + LOCK_MS) } },
      { returnDocument: "after" },
    );
    return doc ? { doc, lock } : null;
  }

  /** Writes full chunk `n` (idempotent: a retry after a crash overwrites the same chunk). */
  async putChunk(id: string, n: number, data: Uint8Array): Promise<void> {
    await this.videos.chunks.replaceOne(
      { files_id: id, n },
      { files_id: id, n, data: new Binary(Buffer.from(data.buffer, data.byteOffset, data.byteLength)) },
      { upsert: true },
    );
  }

  /** Records what is held (offset, tail) while the writer keeps the upload; false when it lost it. */
  async progress(id: string, lock: string, offset: number, tail: Uint8Array, expiresAt: Date): Promise<boolean> {
    const res = await this.docs.updateOne(
      { _id: id, lock },
      {
        $set: {
          offset,
          tail: new Binary(Buffer.from(tail)),
          expiresAt,
          lockedUntil: new Date(Date.now() + LOCK_MS),
        },
      },
    );
    return res.matchedCount === 1;
  }

  /** Keeps the upload for its writer a while longer; false when it lost it. */
  async renew(id: string, lock: string): Promise<boolean> {
    const res = await this.docs.updateOne({ _id: id, lock }, { $set: { lockedUntil: new Date(Date.now() + LOCK_MS) } });
    return res.matchedCount === 1;
  }

  async release(id: string, lock: string): Promise<void> {
    await this.docs.updateOne({ _id: id, lock }, { $set: { lock: null, lockedUntil: new Date(0) } });
  }

  /** Every chunk of the upload, in order (the last one may be short). */
  async *read(id: string, length: number): AsyncGenerator<Uint8Array> {
    const last = Math.ceil(length / CHUNK_BYTES);
    for (let n = 0; n < last; n++) {
      const doc = await this.videos.chunks.findOne({ files_id: id, n }, { projection: { _id: 0, data: 1 } });
      if (!doc) throw new Error(`chunk ${n} of upload ${id} is missing`);
      yield doc.data.buffer;
    }
  }

  /** Removes the upload and its chunks (unless it became a video). */
  async remove(id: string): Promise<void> {
    if (!(await this.videos.find(id))) await this.videos.chunks.deleteMany({ files_id: id });
    await this.docs.deleteOne({ _id: id });
  }

  /** Removes every unfinished upload of a user (a deleted one), with its chunks; how many. */
  async removeAllOf(ownerId: string): Promise<number> {
    const ids = await this.docs.find({ ownerId }, { projection: { _id: 1 } }).toArray();
    for (const { _id } of ids) await this.remove(_id);
    return ids.length;
  }

  /** Uploads past their expiry, oldest first. */
  expired(limit: number): Promise<TusDoc[]> {
    return this.docs
      .find({ expiresAt: { $lte: new Date() } }, { projection: { tail: 0, transcript: 0 } })
      .sort({ expiresAt: 1 })
      .limit(limit)
      .toArray();
  }
}
