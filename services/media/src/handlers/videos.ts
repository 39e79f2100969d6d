import { createHash, randomUUID } from "node:crypto";
import { analysisCatalog, TrellisError } from "@trellis/contracts";
import { request } from "@trellis/runtime";
import type { MediaContext } from "../context.ts";
import { actingFor, mayAccess, requireUser } from "../domain/authorization.ts";
import { decodeCursor, pageOf } from "../domain/cursor.ts";
import { UNKNOWN_PROBE } from "../domain/probe-summary.ts";
import { checkQuota } from "../domain/quota.ts";
import { decideRead } from "../domain/read-decision.ts";
import { describeContent, sniffVideo } from "../domain/sniff.ts";
import { parseTranscript, recogniseFormat, toWebVtt } from "../domain/transcript.ts";
import type { PreparedEvent } from "../events/outbox.ts";
import { StreamingProbe } from "../probe/ffprobe.ts";
import { type VideoMeta, videoView } from "../store/videos.ts";
import { accessible, notFound, readHead, remaining, requireExistingUser, tooLarge } from "./common.ts";
import type { MediaHandlers } from "./types.ts";

type VideoHandlers = Pick<
  MediaHandlers,
  "uploadVideo" | "listVideos" | "getVideo" | "readVideo" | "deleteVideo" | "setTranscript" | "getTranscript"
>;

export function videoHandlers(t: MediaContext): VideoHandlers {
  const { videos } = t;
  const max = t.config.VIDEO_MAX_BYTES;
  const probing = t.config.FFPROBE_PATH !== "off";
  // How often an upload in progress tells the sweeper it is alive: well within its patience.
  const touchEveryMs = Math.min(5_000, t.config.STALE_UPLOAD_MS / 4);
  const find = (videoId: string, actor: Parameters<typeof accessible>[0]) =>
    accessible(
      actor,
      () => videos.find(videoId),
      (d) => d.metadata.ownerId,
      "video",
    );

  /**
   * A video read by a learner of an analysis: the analysis service decides who may answer it (it
   * owns sharing), and it must be of this very video; otherwise `not_found`, as for anyone else.
   */
  const findForLearner = async (
    videoId: string,
    analysisId: string,
    actor: Parameters<typeof accessible>[0],
    ctx: { requestId: string },
  ) => {
    const user = requireUser(actor);
    const doc = await videos.find(videoId);
    if (doc === null) throw notFound("video");
    if (mayAccess(user, doc.metadata.ownerId)) return { doc, user };
    let quiz: { videoId: string; url?: string | undefined };
    try {
      quiz = await request(t.nc, analysisCatalog.quiz, { actor, analysisId }, { requestId: ctx.requestId });
    } catch (err) {
      if (err instanceof TrellisError && err.code === "not_found") throw notFound("video");
      throw err;
    }
    if (quiz.videoId !== videoId || quiz.url !== undefined) throw notFound("video");
    return { doc, user };
  };

  return {
    /**
     * Streams the bytes into GridFS as they come (one chunk insert in flight, so memory stays at
     * the flow-control window), hashing them and feeding ffprobe on the way. The type is decided
     * from the first 4 KiB before anything is stored; a failure or a caller that goes away
     * removes every chunk written, and no files document (so no video) ever appears.
     */
    async uploadVideo({ actor, ownerId: requested, filename, transcript, declaredSize }, ctx) {
      const { user, ownerId } = actingFor(actor, requested);
      if (ownerId !== user.userId) await requireExistingUser(t, actor, ownerId, ctx.requestId);
      if (declaredSize !== undefined && declaredSize > max) throw tooLarge("video", max);
      // The transcript is checked before any byte is read: an invalid one refuses the upload.
      const transcriptFormat = transcript === undefined ? undefined : recogniseFormat(transcript);
      if (transcript !== undefined && transcriptFormat) parseTranscript(transcript, transcriptFormat);
      const quota = t.config.MEDIA_QUOTA_BYTES;
      const used = quota > 0 ? await t.usage.of(ownerId) : 0;
      checkQuota(used, declaredSize ?? 0, quota);

      const { head, rest } = await readHead(ctx.upload);
      const type = await sniffVideo(head);
      if (!type) {
        throw new TrellisError(
          "unsupported_media_type",
          `not a video container media recognises (MP4, MOV, WebM, Matroska, ...): the bytes are ${await describeContent(head)}`,
        );
      }

      const id = randomUUID();
      const meta: VideoMeta = {
        ownerId,
        type,
        sha256: "",
        ...UNKNOWN_PROBE,
        transcript: transcript ?? null,
        transcriptFormat: transcriptFormat ?? null,
        transcriptUpdatedAt: transcript === undefined ? null : new Date(),
        hasTranscript: transcript !== undefined,
      };
      // On record before the first chunk: if this process dies mid-way, the sweeper removes the chunks.
      await t.uploads.begin(id, [videos.files.name], ownerId);
      const file = videos.openUpload(id, filename, meta);
      let touched = Date.now();
      const probe = probing ? new StreamingProbe(t.config.FFPROBE_PATH, t.config.FFPROBE_TIMEOUT_MS) : undefined;
      const hash = createHash("sha256");
      let uploaded: PreparedEvent | undefined;
      let size = 0;
      const store = async (chunk: Uint8Array) => {
        size += chunk.length;
        if (size > max) throw tooLarge("video", max);
        checkQuota(used, size, quota);
        hash.update(chunk);
        await Promise.all([file.write(chunk), probe?.write(chunk)]);
        if (Date.now() - touched > touchEveryMs) {
          touched = Date.now();
          await t.uploads.touch(id);
        }
      };
      try {
        await store(head);
        for await (const chunk of remaining(rest)) await store(chunk);
        meta.sha256 = hash.digest("hex");
        if (probe) Object.assign(meta, await probe.finish());
        // Recorded before the files document (the video) exists: sent below, or by the outbox's sweeper.
        uploaded = await t.outbox.prepare({ kind: "video_uploaded", videoId: id, at: Date.now() });
        await file.finish();
      } catch (err) {
        probe?.kill();
        await file
          .abort()
          .then(() => t.uploads.end(id))
          .catch((cause) =>
            ctx.log.error({ err: cause, videoId: id }, "removing a failed upload failed; the sweeper will"),
          );
        ctx.log.info({ videoId: id, bytes: size, reason: (err as Error).message }, "video upload abandoned");
        throw err;
      }
      await t.uploads.end(id);
      const doc = await videos.find(id);
      if (!doc) throw new TrellisError("internal", "the video vanished right after it was stored");
      const video = videoView(doc);
      ctx.log.info({ videoId: id, ownerId, type, size, durationMs: meta.durationMs }, "video stored");
      // The video is stored: an event not published now is the outbox's (never an error: a retry would store it twice).
      await uploaded?.send();
      return video;
    },

    async listVideos({ actor, ownerId: requested, limit, cursor }) {
      const { ownerId } = actingFor(actor, requested);
      const after = cursor === undefined ? undefined : decodeCursor(cursor);
      const docs = await videos.page(ownerId, limit + 1, after);
      const page = pageOf(docs, limit, (d) => ({ at: d.uploadDate.getTime(), id: d._id }));
      return { items: page.items.map(videoView), next: page.next };
    },

    async getVideo({ actor, videoId }) {
      const { doc } = await find(videoId, actor);
      return { ...videoView(doc), transcript: doc.metadata.transcript };
    },

    async readVideo({ actor, videoId, analysisId, range, ifRange, ifNoneMatch, headOnly }, ctx) {
      const { doc } =
        analysisId === undefined ? await find(videoId, actor) : await findForLearner(videoId, analysisId, actor, ctx);
      const etag = `"${doc.metadata.sha256}"`;
      const decision = decideRead({ size: doc.length, etag }, { range, ifRange, ifNoneMatch });
      return {
        meta: {
          outcome: decision.outcome,
          contentType: doc.metadata.type,
          size: doc.length,
          range: decision.range,
          etag,
          lastModified: doc.uploadDate.toISOString(),
          video: videoView(doc),
        },
        body: decision.range && !headOnly ? videos.read(doc, decision.range.start, decision.range.end) : [],
      };
    },

    async setTranscript({ actor, videoId, format: named, text }) {
      const { doc } = await find(videoId, actor);
      const format = named ?? recogniseFormat(text);
      parseTranscript(text, format);
      const at = new Date();
      const updated = await t.outbox.prepare({
        kind: "transcript_updated",
        videoId,
        ownerId: doc.metadata.ownerId,
        format,
        at: at.getTime(),
      });
      if (!(await videos.setTranscript(videoId, { text, format, at }))) {
        await updated.cancel();
        throw new TrellisError("not_found", "video not found");
      }
      await updated.send();
      return { ...videoView(doc), hasTranscript: true };
    },

    async getTranscript({ actor, videoId, webvtt }) {
      const { doc } = await find(videoId, actor);
      const { transcript, transcriptFormat, transcriptUpdatedAt } = doc.metadata;
      if (transcript === null) throw new TrellisError("not_found", "the video has no transcript");
      // Stored before formats were recorded, or with the upload: recognised from the text.
      const format = transcriptFormat ?? recogniseFormat(transcript);
      return {
        format,
        text: transcript,
        segments: parseTranscript(transcript, format),
        updatedAt: (transcriptUpdatedAt ?? doc.uploadDate).toISOString(),
        ...(webvtt ? { webvtt: toWebVtt(transcript, format, doc.metadata.durationMs) } : {}),
      };
    },

    async deleteVideo({ actor, videoId }, ctx) {
      const { doc } = await find(videoId, actor);
      const deleted = await t.outbox.prepare({
        kind: "video_deleted",
        videoId,
        ownerId: doc.metadata.ownerId,
        at: Date.now(),
      });
      if (!(await videos.delete(videoId))) {
        await deleted.cancel();
        throw new TrellisError("not_found", "video not found");
      }
      ctx.log.info({ videoId }, "video deleted");
      await deleted.send();
      return {};
    },
  };
}
