import { createHash, randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { TrellisError, type UserPrincipal } from "@trellis/contracts";
import type { MediaContext } from "../context.ts";
import { mayAccess, requireUser } from "../domain/authorization.ts";
import { UNKNOWN_PROBE } from "../domain/probe-summary.ts";
import { checkQuota } from "../domain/quota.ts";
import { describeContent, SNIFF_BYTES, sniffVideo } from "../domain/sniff.ts";
import { parseTranscript, recogniseFormat } from "../domain/transcript.ts";
import { StreamingProbe } from "../probe/ffprobe.ts";
import { CHUNK_BYTES } from "../store/gridfs.ts";
import { LOCK_MS, type TusDoc, tusView } from "../store/tus.ts";
import { type VideoMeta, videoView } from "../store/videos.ts";
import { notFound, tooLarge } from "./common.ts";
import { withLease } from "./tus-lease.ts";
import type { MediaHandlers } from "./types.ts";

type TusHandlers = Pick<
  MediaHandlers,
  "tusLimits" | "createTusUpload" | "getTusUpload" | "appendTusUpload" | "deleteTusUpload"
>;

/**
 * How long a PATCH or HEAD waits for the PATCH before it to let go (a cut one saves what it had;
 * a dead one's lease lapses): as long as the lease, but never past the caller's deadline less a
 * second, so the answer (the settled offset, or a 409 the client retries) comes before the
 * gateway gives up with a 504.
 */
const waitUntil = (deadline: number): number => Math.min(Date.now() + LOCK_MS, deadline - 1_000);

const gone = () => notFound("upload");

/**
 * tus 1.0 uploads of videos, kept by media: the gateway speaks the HTTP protocol and streams each
 * PATCH body here. Bytes go to `videos.chunks` as full GridFS chunks as soon as they fill one; the
 * rest waits in the upload's document (`tail`), saved also when a PATCH is cut off, so the offset
 * HEAD reports is exactly what media holds. At the last byte the chunks are read back once (sha256,
 * type, ffprobe) and the `videos.files` document is written: the upload is a video with its id.
 */
export function tusHandlers(t: MediaContext): TusHandlers {
  const { tus } = t;
  const max = t.config.VIDEO_MAX_BYTES;
  const expiry = () => new Date(Date.now() + t.config.TUS_EXPIRY_MS);

  /** The upload, when the user may see it (owner or admin); not_found otherwise. */
  const visible = async (user: UserPrincipal, id: string): Promise<TusDoc> => {
    const doc = await tus.find(id);
    if (!doc || !mayAccess(user, doc.ownerId)) throw gone();
    return doc;
  };

  /** Waits (a little) for a writer holding the upload; then the upload as it settled. */
  const settled = async (user: UserPrincipal, id: string, deadline: number): Promise<TusDoc> => {
    const until = waitUntil(deadline);
    for (;;) {
      const doc = await visible(user, id);
      if (doc.lockedUntil.getTime() <= Date.now() || Date.now() > until) return doc;
      await sleep(50);
    }
  };

  const finalize = async (doc: TusDoc, ctx: { log: MediaContext["log"] }) => {
    const id = doc._id;
    const probe =
      t.config.FFPROBE_PATH !== "off"
        ? new StreamingProbe(t.config.FFPROBE_PATH, t.config.FFPROBE_TIMEOUT_MS)
        : undefined;
    const hash = createHash("sha256");
    let head: Uint8Array | undefined;
    let type: VideoMeta["type"] | null = null;
    try {
      for await (const chunk of tus.read(id, doc.length)) {
        if (!head) {
          head = chunk.subarray(0, SNIFF_BYTES);
          type = await sniffVideo(head);
          if (!type) {
            throw new TrellisError(
              "unsupported_media_type",
              `not a video container media recognises (MP4, MOV, WebM, Matroska, ...): the bytes are ${await describeContent(head)}`,
            );
          }
        }
        hash.update(chunk);
        await probe?.write(chunk);
      }
      if (!type) throw new TrellisError("unsupported_media_type", "an empty upload is not a video");
    } catch (err) {
      probe?.kill();
      if (err instanceof TrellisError && err.code === "unsupported_media_type") {
        await tus.remove(id);
        ctx.log.info({ uploadId: id, reason: err.message }, "tus upload refused at its end");
      }
      // Otherwise kept (at its full offset, its lease released): a PATCH of no bytes at that offset finishes it again.
      throw err;
    }
    const meta: VideoMeta = {
      ownerId: doc.ownerId,
      type,
      sha256: hash.digest("hex"),
      ...UNKNOWN_PROBE,
      ...(probe ? await probe.finish() : {}),
      transcript: doc.transcript,
      transcriptFormat: doc.transcriptFormat,
      transcriptUpdatedAt: doc.transcript === null ? null : new Date(),
      hasTranscript: doc.transcript !== null,
    };
    // Recorded before the files document (the video) exists: sent below, or by the outbox's sweeper.
    const uploaded = await t.outbox.prepare({ kind: "video_uploaded", videoId: id, at: Date.now() });
    await t.videos.files.files.insertOne({
      _id: id,
      length: doc.length,
      chunkSize: CHUNK_BYTES,
      uploadDate: new Date(),
      filename: doc.filename,
      metadata: meta,
    });
    await tus.docs.deleteOne({ _id: id });
    const stored = await t.videos.find(id);
    if (!stored) throw new TrellisError("internal", "the video vanished right after it was stored");
    const video = videoView(stored);
    ctx.log.info({ videoId: id, ownerId: doc.ownerId, type, size: doc.length }, "tus upload stored as a video");
    await uploaded.send();
    return video;
  };

  return {
    async tusLimits() {
      return { maxBytes: max };
    },

    async createTusUpload({ actor, length, filename, transcript }, ctx) {
      const user = requireUser(actor);
      if (length > max) throw tooLarge("video", max);
      if (length === 0) throw new TrellisError("invalid_argument", "an empty file is not a video");
      const transcriptFormat = transcript === undefined ? null : recogniseFormat(transcript);
      if (transcript !== undefined && transcriptFormat) parseTranscript(transcript, transcriptFormat);
      const quota = t.config.MEDIA_QUOTA_BYTES;
      if (quota > 0) checkQuota(await t.usage.of(user.userId), length, quota);
      const doc = await tus.create({
        _id: randomUUID(),
        ownerId: user.userId,
        filename,
        transcript: transcript ?? null,
        transcriptFormat,
        length,
        expiresAt: expiry(),
      });
      ctx.log.info({ uploadId: doc._id, length }, "tus upload created");
      return tusView(doc);
    },

    async getTusUpload({ actor, uploadId }, ctx) {
      return tusView(await settled(requireUser(actor), uploadId, ctx.deadline));
    },

    async appendTusUpload({ actor, uploadId, offset, declaredSize, checksum }, ctx) {
      const user = requireUser(actor);
      const waiting = { until: waitUntil(ctx.deadline), check: () => visible(user, uploadId), log: ctx.log };
      return withLease(tus, uploadId, waiting, async (lease) => {
        const { doc } = lease;
        if (!mayAccess(user, doc.ownerId)) throw gone();
        if (offset !== doc.offset) {
          throw new TrellisError("conflict", `the upload is at offset ${doc.offset}, not ${offset}`);
        }
        if (declaredSize !== undefined && offset + declaredSize > doc.length) {
          throw new TrellisError(
            "payload_too_large",
            `the body would take the upload past its Upload-Length (${doc.length} bytes)`,
          );
        }

        let n = Math.floor(doc.offset / CHUNK_BYTES);
        let tail = Buffer.from(doc.tail.buffer);
        let received = doc.offset;
        /** The writer no longer holds the upload: terminated or swept (its chunks go), or its lease lapsed. */
        const lost = async (): Promise<never> => {
          if (await tus.docs.countDocuments({ _id: uploadId }, { limit: 1 })) {
            throw new TrellisError("conflict", "this PATCH was too slow and lost the upload to another");
          }
          await tus.remove(uploadId);
          throw gone();
        };
        const renew = async () => {
          if (!(await lease.renew())) await lost();
        };
        /** Records full chunks written so far and `keep`, the bytes after them. */
        const save = async (keep: Buffer) => {
          const expiresAt = expiry();
          if (!(await lease.record(n * CHUNK_BYTES + keep.length, keep, expiresAt))) await lost();
          return expiresAt;
        };
        // With a checksum nothing of the body counts until it is verified: the record is not moved
        // on (full chunks written meanwhile are rewritten by the next PATCH), only the lease renewed.
        const digest = checksum ? createHash(checksum.algorithm) : undefined;
        const mark = digest ? renew : () => save(Buffer.alloc(0));
        try {
          for await (const chunk of ctx.upload) {
            if (received + chunk.length > doc.length) {
              throw new TrellisError(
                "payload_too_large",
                `the body takes the upload past its Upload-Length (${doc.length} bytes)`,
              );
            }
            received += chunk.length;
            digest?.update(chunk);
            // A slow client: the lease is kept between chunks too.
            if (lease.sinceRenewedMs() > LOCK_MS / 3) await renew();
            tail = tail.length === 0 ? Buffer.from(chunk) : Buffer.concat([tail, chunk]);
            while (tail.length >= CHUNK_BYTES) {
              await tus.putChunk(uploadId, n, tail.subarray(0, CHUNK_BYTES));
              n++;
              tail = Buffer.from(tail.subarray(CHUNK_BYTES));
              // Durable up to the last full chunk; the tail in memory is saved at the end.
              await mark();
            }
          }
        } catch (err) {
          // Cut off (or refused) mid-body: keep what arrived, as tus resumes from there (unless it
          // came with a checksum, which can no longer be verified).
          if (!digest) {
            await save(tail).catch((cause) => ctx.log.warn({ err: cause, uploadId }, "saving a cut PATCH failed"));
          }
          ctx.log.info({ uploadId, offset: received, reason: (err as Error).message }, "tus PATCH ended early");
          throw err;
        }

        if (digest && checksum && digest.digest("base64") !== checksum.digest) {
          ctx.log.info({ uploadId, offset: doc.offset }, "tus PATCH refused: checksum mismatch");
          return { ...tusView(doc), video: null, checksumMismatch: true };
        }
        if (received < doc.length) {
          const expiresAt = await save(tail);
          return {
            ...tusView(doc),
            offset: received,
            expiresAt: expiresAt.toISOString(),
            video: null,
            checksumMismatch: false,
          };
        }
        // The last byte: the tail is the last (short) chunk, and the upload becomes a video.
        if (tail.length > 0) {
          await tus.putChunk(uploadId, n, tail);
        }
        if (!(await lease.record(doc.length, Buffer.alloc(0), expiry()))) await lost();
        const video = await finalize(doc, ctx);
        return { ...tusView(doc), offset: doc.length, video, checksumMismatch: false };
      });
    },

    async deleteTusUpload({ actor, uploadId }, ctx) {
      await visible(requireUser(actor), uploadId);
      await tus.remove(uploadId);
      ctx.log.info({ uploadId }, "tus upload terminated");
      return {};
    },
  };
}
