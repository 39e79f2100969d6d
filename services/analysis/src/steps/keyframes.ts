import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { mediaCatalog } from "@trellis/contracts";
import { request, requestStream, requestUpload } from "@trellis/runtime";
import { UnrecoverableError } from "bullmq";
import { keyframeTimeMs, progressTimeMs } from "../domain/ffmpeg-progress.ts";
import { progressAt } from "../domain/progress.ts";
import { runInGroup } from "../tools/process-group.ts";
import { fromServiceError, type StepContext } from "./context.ts";

export interface Keyframe {
  id: string;
  timeMs: number;
}

/** Share of the keyframes stage spent downloading, running ffmpeg, uploading. */
export const DOWNLOAD = 0.1;
const EXTRACT = 0.75;

/** Puts the video into a file of the job's directory (media's stream, or a URL's download). */
export type FetchVideo = (ctx: StepContext, file: string) => Promise<void>;

/** Downloads the video from media into the job's directory, streamed to disk (never whole in memory). */
const download: FetchVideo = async (ctx, file) => {
  let stream: Awaited<ReturnType<typeof requestStream<typeof mediaCatalog.readVideo>>>;
  try {
    stream = await requestStream(ctx.nc, mediaCatalog.readVideo, { actor: ctx.job.actor, videoId: ctx.job.videoId });
  } catch (err) {
    throw fromServiceError(err, "video download");
  }
  const stop = () => stream.cancel("job aborted");
  ctx.signal.addEventListener("abort", stop, { once: true });
  try {
    await pipeline(Readable.from(stream.chunks), createWriteStream(file), { signal: ctx.signal });
  } finally {
    ctx.signal.removeEventListener("abort", stop);
  }
};

/**
 * Runs ffmpeg in its own process group, one JPEG every `interval` seconds, its `-progress` output
 * driving the percent; on abort the whole group is killed and this waits for it to be gone.
 */
async function extract(ctx: StepContext, input: string, outDir: string, durationMs: number): Promise<void> {
  const args = [
    "-hide_banner",
    "-nostdin",
    "-v",
    "error",
    ...(ctx.config.FFMPEG_READ_RATE ? ["-readrate", String(ctx.config.FFMPEG_READ_RATE)] : []),
    "-i",
    input,
    "-an",
    "-vf",
    `fps=1/${ctx.job.keyframeInterval}`,
    "-q:v",
    "3",
    "-progress",
    "pipe:1",
    "-nostats",
    join(outDir, "frame-%06d.jpg"),
  ];
  const { code, stderr } = await runInGroup(ctx.config.FFMPEG_PATH, args, {
    cwd: ctx.dir,
    signal: ctx.signal,
    onStart: (pid) => ctx.log.debug({ pid, analysisId: ctx.job.analysisId }, "ffmpeg started"),
    onLine(line) {
      const t = progressTimeMs(line);
      if (t !== null && durationMs > 0) ctx.report(progressAt("keyframes", DOWNLOAD + (EXTRACT * t) / durationMs));
    },
  });
  if (code !== 0) throw new UnrecoverableError(`ffmpeg failed (exit ${code}): ${stderr.trim().slice(0, 500)}`);
}

/**
 * The keyframes step: download, extract, then store each frame in media as a picture of the
 * video's owner (its id recorded on the analysis at once, so a cancel can delete it).
 */
export async function extractKeyframes(
  ctx: StepContext,
  durationMs: number,
  fetchVideo: FetchVideo = download,
): Promise<Keyframe[]> {
  ctx.report(progressAt("keyframes", 0));
  const input = join(ctx.dir, "video");
  const frames = join(ctx.dir, "frames");
  await mkdir(frames);
  await fetchVideo(ctx, input);
  ctx.report(progressAt("keyframes", DOWNLOAD));
  await extract(ctx, input, frames, durationMs);
  const names = (await readdir(frames)).filter((n) => n.endsWith(".jpg")).sort();
  const keyframes: Keyframe[] = [];
  for (const [i, name] of names.entries()) {
    ctx.signal.throwIfAborted();
    const path = join(frames, name);
    let picture: { id: string };
    try {
      picture = await requestUpload(
        ctx.nc,
        mediaCatalog.uploadPicture,
        { actor: ctx.job.actor, userId: ctx.job.ownerId, declaredSize: (await stat(path)).size },
        createReadStream(path),
      );
    } catch (err) {
      throw fromServiceError(err, "keyframe upload");
    }
    await ctx.store.addKeyframe(ctx.job.analysisId, picture.id);
    keyframes.push({ id: picture.id, timeMs: keyframeTimeMs(i, ctx.job.keyframeInterval) });
    ctx.report(progressAt("keyframes", DOWNLOAD + EXTRACT + ((1 - DOWNLOAD - EXTRACT) * (i + 1)) / names.length));
  }
  return keyframes;
}

/** Deletes keyframes already stored in media (a cancelled or failed job leaves none). */
export async function deleteKeyframes(
  ctx: Pick<StepContext, "nc" | "job" | "log">,
  ids: readonly string[],
): Promise<void> {
  for (const pictureId of ids) {
    try {
      await request(ctx.nc, mediaCatalog.deletePicture, { actor: ctx.job.actor, pictureId });
    } catch (err) {
      ctx.log.warn({ err, pictureId }, "could not delete a keyframe");
    }
  }
}
