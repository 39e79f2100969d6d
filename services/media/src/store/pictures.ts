import type { Picture, PictureType } from "@trellis/contracts";
import type { Db } from "mongodb";
import { type FileDoc, GridFsFiles } from "./gridfs.ts";

/**
 * A picture's metadata lives in its GridFS files document (`pictures.files`, field `metadata`),
 * not in a collection of its own: the files document is written last, after every chunk, in one
 * insert, so a picture exists exactly when its bytes are complete, and there is never a metadata
 * record without bytes or bytes without a record to reconcile (neither server here has
 * transactions to keep two documents in step).
 */
export interface PictureMeta {
  userId: string;
  type: PictureType;
  sha256: string;
  width: number;
  height: number;
}

export interface ThumbnailMeta {
  userId: string;
  type: "image/webp";
  sha256: string;
}

export type PictureDoc = FileDoc<PictureMeta>;
export type ThumbnailDoc = FileDoc<ThumbnailMeta>;

export const pictureView = (doc: PictureDoc): Picture => ({
  id: doc._id,
  userId: doc.metadata.userId,
  type: doc.metadata.type,
  size: doc.length,
  width: doc.metadata.width,
  height: doc.metadata.height,
  sha256: doc.metadata.sha256,
  createdAt: doc.uploadDate.toISOString(),
});

/** Pictures (bucket `pictures`) and their thumbnails (bucket `thumbnails`, same id). */
export class PicturesStore {
  readonly originals: GridFsFiles<PictureMeta>;
  readonly thumbnails: GridFsFiles<ThumbnailMeta>;

  constructor(db: Db) {
    this.originals = new GridFsFiles<PictureMeta>(db, "pictures");
    this.thumbnails = new GridFsFiles<ThumbnailMeta>(db, "thumbnails");
  }

  async ensureIndexes(): Promise<void> {
    await this.originals.ensureIndexes("userId");
    await this.thumbnails.ensureIndexes("userId");
  }

  /**
   * Stores a picture and its thumbnail: the thumbnail first, so a picture that exists always has
   * one; a failure removes whatever was written.
   */
  async insert(
    id: string,
    original: { bytes: Uint8Array; meta: PictureMeta },
    thumbnail: { bytes: Uint8Array; meta: ThumbnailMeta },
  ): Promise<PictureDoc> {
    const thumb = this.thumbnails.openUpload(id, `${id}.webp`, thumbnail.meta);
    const file = this.originals.openUpload(id, id, original.meta);
    try {
      await thumb.write(thumbnail.bytes);
      await thumb.finish();
      await file.write(original.bytes);
      await file.finish();
    } catch (err) {
      await Promise.allSettled([thumb.abort(), file.abort(), this.thumbnails.delete(id)]);
      throw err;
    }
    const doc = await this.originals.find(id);
    if (!doc) throw new Error(`picture ${id} vanished right after it was stored`);
    return doc;
  }

  find(id: string): Promise<PictureDoc | null> {
    return this.originals.find(id);
  }

  findThumbnail(id: string): Promise<ThumbnailDoc | null> {
    return this.thumbnails.find(id);
  }

  page(userId: string, limit: number, after?: { at: number; id: string }): Promise<PictureDoc[]> {
    return this.originals.page({ "metadata.userId": userId }, limit, after);
  }

  /** The original first (the picture is gone), then its thumbnail. */
  async delete(id: string): Promise<boolean> {
    const deleted = await this.originals.delete(id);
    await this.thumbnails.delete(id);
    return deleted;
  }

  /** Every picture of a user, with its thumbnail; how many pictures there were. */
  async deleteAllOf(userId: string): Promise<number> {
    let n = 0;
    for await (const doc of this.originals.each({ "metadata.userId": userId })) {
      if (await this.delete(doc._id)) n += 1;
    }
    // Thumbnails whose original was never written (a crash between the two).
    for await (const doc of this.thumbnails.each({ "metadata.userId": userId })) await this.thumbnails.delete(doc._id);
    return n;
  }
}
