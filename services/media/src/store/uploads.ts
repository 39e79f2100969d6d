import type { Collection, Db } from "mongodb";

/**
 * Uploads in progress (collection `uploads`): written before an upload's first chunk, touched
 * while it streams, removed when it is finished or abandoned. One whose process died in between
 * (so nobody removed its chunks) stops being touched; the sweeper then deletes its chunks.
 */
export interface UploadDoc {
  /** The file's id (the same in every bucket it writes). */
  _id: string;
  buckets: string[];
  ownerId: string;
  startedAt: Date;
  touchedAt: Date;
}

export class UploadsStore {
  private readonly uploads: Collection<UploadDoc>;

  constructor(db: Db) {
    this.uploads = db.collection<UploadDoc>("uploads");
  }

  async ensureIndexes(): Promise<void> {
    await this.uploads.createIndex({ touchedAt: 1 }, { name: "touchedAt" });
  }

  async begin(id: string, buckets: string[], ownerId: string): Promise<void> {
    const now = new Date();
    await this.uploads.insertOne({ _id: id, buckets, ownerId, startedAt: now, touchedAt: now });
  }

  async touch(id: string): Promise<void> {
    await this.uploads.updateOne({ _id: id }, { $set: { touchedAt: new Date() } });
  }

  async end(id: string): Promise<void> {
    await this.uploads.deleteOne({ _id: id });
  }

  /** Uploads nobody has touched since `before`, oldest first. */
  stale(before: Date, limit: number): Promise<UploadDoc[]> {
    return this.uploads
      .find({ touchedAt: { $lt: before } })
      .sort({ touchedAt: 1 })
      .limit(limit)
      .toArray();
  }
}
