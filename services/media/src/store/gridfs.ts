import { TrellisError } from "@trellis/contracts";
import { counter } from "@trellis/runtime";
import {
  type Binary,
  type Collection,
  type Db,
  type Filter,
  GridFSBucket,
  type GridFSBucketWriteStream,
} from "mongodb";

/** GridFS's default chunk size (255 KiB): MongoDB tools read the files as they are. */
export const CHUNK_BYTES = 255 * 1024;
/** Chunks read ahead of the one being sent: enough to hide a round trip, bounded memory. */
const READ_AHEAD = 3;

/** Bytes written to (`in`) and read from (`out`) GridFS, by bucket. */
const gridfsBytes = counter({
  name: "trellis_media_gridfs_bytes_total",
  help: "Bytes written to GridFS (direction=in) and read from it (direction=out), by bucket",
  labelNames: ["bucket", "direction"] as const,
});

/** A GridFS files document (`<bucket>.files`) whose `metadata` media defines. */
export interface FileDoc<M> {
  _id: string;
  length: number;
  chunkSize: number;
  uploadDate: Date;
  filename: string;
  metadata: M;
}

interface ChunkDoc {
  files_id: string;
  n: number;
  data: Binary;
}

/** An upload in progress: bytes go to GridFS as they come; `finish` writes the files document. */
export interface FileUpload {
  /** Resolves once GridFS has the bytes (so at most one chunk insert is ever in flight). */
  write(chunk: Uint8Array): Promise<void>;
  /** Writes the last chunk and the files document: only now does the file exist. */
  finish(): Promise<void>;
  /** Removes every chunk written so far; no files document is ever written. Idempotent. */
  abort(): Promise<void>;
}

/**
 * One GridFS bucket, in the format MongoDB's tools read (`<name>.files` / `<name>.chunks`), with
 * string (UUID) ids. Uploads use the driver's `GridFSBucket`; reads go chunk by chunk by
 * `{files_id, n}` (the compound index) from the first chunk a range needs, so a seek never reads
 * the bytes before it, on MongoDB 7 and on the patched FerretDB alike (the driver's own ranged
 * read asks for `{files_id, n: {$gte}}` sorted by n, which FerretDB 1.24 answers by loading and
 * sorting every chunk of the file).
 */
export class GridFsFiles<M extends object> {
  readonly bucket: GridFSBucket;
  readonly files: Collection<FileDoc<M>>;
  readonly chunks: Collection<ChunkDoc>;

  readonly name: string;

  constructor(db: Db, name: string) {
    this.name = name;
    this.bucket = new GridFSBucket(db, { bucketName: name, chunkSizeBytes: CHUNK_BYTES });
    this.files = db.collection<FileDoc<M>>(`${name}.files`);
    this.chunks = db.collection<ChunkDoc>(`${name}.chunks`);
  }

  /** The indexes GridFS itself creates, plus the owner listing's. */
  async ensureIndexes(ownerField: string): Promise<void> {
    await this.chunks.createIndex({ files_id: 1, n: 1 }, { name: "files_id_1_n_1", unique: true });
    await this.files.createIndex({ filename: 1, uploadDate: 1 }, { name: "filename_1_uploadDate_1" });
    await this.files.createIndex(
      { [`metadata.${ownerField}`]: 1, uploadDate: -1, _id: -1 },
      { name: `metadata_${ownerField}_uploadDate` },
    );
  }

  /**
   * Starts a file. `metadata` is the object the driver writes into the files document when the
   * upload finishes: fields known only at the end (size, sha256, ...) are filled in before
   * `finish()`.
   */
  openUpload(id: string, filename: string, metadata: M): FileUpload {
    const stream: GridFSBucketWriteStream = this.bucket.openUploadStreamWithId(id as never, filename, { metadata });
    let failure: Error | undefined;
    stream.on("error", (err) => {
      failure ??= err;
    });
    let aborted: Promise<void> | undefined;
    const bytesIn = gridfsBytes.labels({ bucket: this.name, direction: "in" });
    return {
      write: (chunk) =>
        new Promise<void>((resolve, reject) => {
          if (failure) return reject(failure);
          stream.write(chunk, (err) => {
            if (err) return reject(err);
            bytesIn.inc(chunk.length);
            resolve();
          });
        }),
      finish: () =>
        new Promise<void>((resolve, reject) => {
          if (failure) return reject(failure);
          stream.end((err?: Error | null) => (err ? reject(err) : resolve()));
        }),
      abort: () => {
        // Every write was awaited, so no chunk insert is in flight: destroying the stream (no
        // files document) and deleting what was written leaves nothing behind.
        aborted ??= (async () => {
          stream.destroy();
          await this.chunks.deleteMany({ files_id: id });
        })();
        return aborted;
      },
    };
  }

  find(id: string): Promise<FileDoc<M> | null> {
    return this.files.findOne({ _id: id } as Filter<FileDoc<M>>) as Promise<FileDoc<M> | null>;
  }

  /** Newest first, after the cursor (creation time, then id), at most `limit`. */
  page(
    filter: Filter<FileDoc<M>>,
    limit: number,
    after?: { at: number; id: string },
    projection?: Record<string, 0>,
  ): Promise<FileDoc<M>[]> {
    const cursor =
      after === undefined
        ? {}
        : {
            $or: [
              { uploadDate: { $lt: new Date(after.at) } },
              { uploadDate: new Date(after.at), _id: { $lt: after.id } },
            ],
          };
    return this.files
      .find({ ...filter, ...cursor } as Filter<FileDoc<M>>, projection ? { projection } : {})
      .sort({ uploadDate: -1, _id: -1 })
      .limit(limit)
      .toArray() as Promise<FileDoc<M>[]>;
  }

  /** Bytes of every file whose `metadata.<field>` is `value`. */
  async bytesWhere(field: string, value: string): Promise<number> {
    const [row] = await this.files
      .aggregate<{ total: number }>([
        { $match: { [`metadata.${field}`]: value } },
        { $group: { _id: null, total: { $sum: "$length" } } },
      ])
      .toArray();
    return row?.total ?? 0;
  }

  /** Ids (and metadata) of every file matching, a batch at a time. */
  async *each(filter: Filter<FileDoc<M>>): AsyncGenerator<FileDoc<M>> {
    yield* this.files.find(filter, { batchSize: 200 }) as AsyncIterable<FileDoc<M>>;
  }

  /**
   * Bytes `start`..`end` (inclusive) of a file, read from the chunk that holds `start` on, a few
   * chunks ahead of the consumer; nothing is read before the consumer asks (a generator).
   */
  async *read(file: Pick<FileDoc<M>, "_id" | "length" | "chunkSize">, start: number, end: number) {
    if (file.length === 0 || end < start) return;
    const size = file.chunkSize;
    const first = Math.floor(start / size);
    const last = Math.floor(end / size);
    const fetch = (n: number) => {
      const p = this.chunks.findOne({ files_id: file._id, n }, { projection: { _id: 0, data: 1 } });
      // Fetched ahead: if the consumer stops first, nobody awaits it.
      p.catch(() => {});
      return p;
    };
    const bytesOut = gridfsBytes.labels({ bucket: this.name, direction: "out" });
    const ahead: Promise<Pick<ChunkDoc, "data"> | null>[] = [];
    let next = first;
    const fill = () => {
      while (ahead.length < READ_AHEAD && next <= last) ahead.push(fetch(next++));
    };
    for (let n = first; n <= last; n++) {
      fill();
      const doc = await ahead.shift();
      const data = doc?.data.buffer;
      const expected = n === Math.floor((file.length - 1) / size) ? file.length - n * size : size;
      if (!data || data.length !== expected) {
        throw new TrellisError("internal", `chunk ${n} of ${this.name} file ${file._id} is missing or damaged`);
      }
      const from = n === first ? start - n * size : 0;
      const to = n === last ? end - n * size + 1 : data.length;
      bytesOut.inc(to - from);
      yield from === 0 && to === data.length ? data : data.subarray(from, to);
    }
  }

  /** Removes a file: its files document first (it is gone for readers at once), then its chunks. */
  async delete(id: string): Promise<boolean> {
    const { deletedCount } = await this.files.deleteOne({ _id: id } as Filter<FileDoc<M>>);
    await this.chunks.deleteMany({ files_id: id });
    return deletedCount === 1;
  }
}
