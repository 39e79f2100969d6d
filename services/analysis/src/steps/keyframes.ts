import { createReadStream, createWriteStream, watch } from "node:fs";
import { mkdir, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { mediaCatalog } from "@trellis/contracts";
import { request, requestStream, requestUpload } from "@trellis/runtime";
import { UnrecoverableError } from "bullmq";
import { keyframeTimeMs, progressTimeMs } from "../domain/ffmpeg-progress.ts";
import { progressAt } from "../domain/progress.ts";
import type { Keyframe } from "../questions/types.ts";
import { runInGroup } from "../tools/process-group.ts";
import { fromServiceError, type StepContext } from "./context.ts";

/** Share of the keyframes stage spent downloading, running ffmpeg, uploading. */
export const DOWNLOAD = 0.1;
const EXTRACT = 0.75;
/**
 * Keyframe uploads in flight at once. Media decodes each picture and makes its thumbnail, so a few
 * at a time keep both cores busy while one upload waits on the network or the database.
 */
export const UPLOADS_IN_FLIGHT = 4;
/** Chunks of the video download in flight (4 MiB at 256 KiB each): the file goes to disk at once. */
const DOWNLOAD_WINDOW = 16;
const FRAME_NAME = /^frame-(\d{6})\.jpg$/;

/** Puts the video into a file of the job's directory (media's stream, or a URL's download). */
export type FetchVideo = (ctx: StepContext, file: string) => Promise<void>;

/** Downloads the video from media into the job's directory, streamed to disk (never whole in memory). */
const download: FetchVideo = async (ctx, file) => {
  let stream: Awaited<ReturnType<typeof requestStream<typeof mediaCatalog.readVideo>>>;
  try {
    stream = await requestStream(
      ctx.nc,
      mediaCatalog.readVideo,
      { actor: ctx.job.actor, videoId: ctx.job.videoId },
      { window: DOWNLOAD_WINDOW },
    );
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
 * ffmpeg's arguments for one JPEG every `intervalSeconds` into `outDir` (`frame-000001.jpg`, …),
 * with `-progress` on stdout. Exported so the bench times ffmpeg alone on exactly these.
 */
export function keyframeArgs(options: {
  input: string;
  outDir: string;
  intervalSeconds: number;
  readRate?: number | undefined;
}): string[] {
  const { input, outDir, intervalSeconds, readRate } = options;
  return [
    "-hide_banner",
    "-nostdin",
    "-v",
    "error",
    ...(readRate ? ["-readrate", String(readRate)] : []),
    "-i",
    input,
    "-an",
    "-vf",
    `fps=1/${intervalSeconds}`,
    "-q:v",
    "3",
    "-progress",
    "pipe:1",
    "-nostats",
    join(outDir, "frame-%06d.jpg"),
  ];
}

/**
 * Runs ffmpeg in its own process group, one JPEG every `interval` seconds, its `-progress` output
 * driving the percent; on abort the whole group is killed and this waits for it to be gone.
 */
async function extract(ctx: StepContext, input: string, outDir: string, durationMs: number): Promise<void> {
  const args = keyframeArgs({
    input,
    outDir,
    intervalSeconds: ctx.job.keyframeInterval,
    readRate: ctx.config.FFMPEG_READ_RATE,
  });
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
 * Stores frames in media as ffmpeg writes them, `UPLOADS_IN_FLIGHT` at a time: each picture of the
 * video's owner, its id recorded on the analysis at once (so a cancel can delete it). ffmpeg
 * writes `frame-000001.jpg`, `frame-000002.jpg`, … one after the other, so when frame n appears,
 * every frame before it is complete; when ffmpeg has exited, all are.
 */
class FrameUploads {
  private readonly ids: (string | undefined)[] = [];
  private readonly pending = new Set<Promise<void>>();
  private readonly queue: number[] = [];
  private handed = 0;
  private failure: { error: unknown } | undefined;
  private uploaded = 0;
  total: number | undefined;

  private readonly ctx: StepContext;
  private readonly dir: string;

  constructor(ctx: StepContext, dir: string) {
    this.ctx = ctx;
    this.dir = dir;
  }

  /** Frames 1..n are complete. */
  ready(n: number): void {
    while (this.handed < n) this.queue.push(++this.handed);
    this.pump();
  }

  private pump(): void {
    while (this.pending.size < UPLOADS_IN_FLIGHT && this.queue.length > 0 && !this.failure) {
      const n = this.queue.shift() as number;
      const p = this.upload(n).then(
        () => {
          this.pending.delete(p);
          this.pump();
        },
        (error: unknown) => {
          this.pending.delete(p);
          this.failure ??= { error };
        },
      );
      this.pending.add(p);
    }
  }

  private async upload(n: number): Promise<void> {
    const { ctx } = this;
    ctx.signal.throwIfAborted();
    const path = join(this.dir, `frame-${String(n).padStart(6, "0")}.jpg`);
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
    this.ids[n - 1] = picture.id;
    this.uploaded++;
    if (this.total) {
      ctx.report(progressAt("keyframes", DOWNLOAD + EXTRACT + ((1 - DOWNLOAD - EXTRACT) * this.uploaded) / this.total));
    }
  }

  /** Waits for every upload handed out so far to settle (never leaves one running behind a failure). */
  async settle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  /** Uploads what is left and returns the pictures' ids in frame order; the first failure is thrown. */
  async finish(): Promise<string[]> {
    while (this.pending.size > 0 || (this.queue.length > 0 && !this.failure)) {
      this.pump();
      await Promise.allSettled([...this.pending]);
    }
    if (this.failure) throw this.failure.error;
    return this.ids.map((id) => id as string);
  }
}

/**
 * The keyframes step: download, then extract with ffmpeg while the frames already written are
 * stored in media (`FrameUploads`); the analysis's keyframes are then put in video order.
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
  const uploads = new FrameUploads(ctx, frames);
  // Without a watch (inotify out of watches), every frame is stored once ffmpeg is done.
  let watcher: { close(): void } = { close: () => {} };
  try {
    const w = watch(frames, (_event, name) => {
      const m = name ? FRAME_NAME.exec(name) : null;
      if (m) uploads.ready(Number(m[1]) - 1);
    });
    w.on("error", (err) => ctx.log.warn({ err }, "frames directory watch failed"));
    watcher = w;
  } catch (err) {
    ctx.log.warn({ err }, "cannot watch the frames directory; keyframes are stored after ffmpeg");
  }
  try {
    await extract(ctx, input, frames, durationMs);
    watcher.close();
    const names = (await readdir(frames)).filter((n) => FRAME_NAME.test(n));
    uploads.total = names.length;
    uploads.ready(names.length);
    const ids = await uploads.finish();
    await ctx.store.setKeyframes(ctx.job.analysisId, ids);
    ctx.report(progressAt("keyframes", 1));
    return ids.map((id, i) => ({ id, atMs: keyframeTimeMs(i, ctx.job.keyframeInterval) }));
  } finally {
    watcher.close();
    // On any failure or cancel: no upload may finish after the caller has cleaned up.
    await uploads.settle();
  }
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
