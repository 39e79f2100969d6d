import { mkdir, readdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { TranscriptSegment } from "@trellis/contracts";
import { startEgressProxy } from "@trellis/runtime";
import { type CaptionInfo, chooseCaptions, dedupeRollingCaptions } from "../domain/captions.ts";
import { progressAt } from "../domain/progress.ts";
import { FinalError } from "../errors/final-error.ts";
import { NoTranscriptError } from "../errors/no-transcript-error.ts";
import { parseTimedTranscript, segmentsFromFile } from "../questions/transcript-input.ts";
import { runYtDlp, type YtDlpRun } from "../tools/yt-dlp.ts";
import type { StepContext } from "./context.ts";
import { DOWNLOAD, type FetchVideo } from "./keyframes.ts";

/** Most bytes of yt-dlp's JSON about one video (YouTube's is a few MiB with every format listed). */
const MAX_INFO_BYTES = 64 * 1024 * 1024;
/** Largest caption file read. */
const MAX_CAPTION_BYTES = 16 * 1024 * 1024;
/**
 * Protocols yt-dlp fetches with its own HTTP stack (so through the egress proxy): no RTMP, RTSP,
 * MMS or other protocols handed to external programs.
 */
const HTTP_PROTOCOLS = "[protocol~='^(https?|m3u8(_native)?|http_dash_segments)$']";
/**
 * One file with video (no separate audio and video to merge: keyframes need only pictures), at
 * most 720p; formats whose codecs are unknown (a generic page's `<video src>`) qualify.
 */
const FORMAT = ["[height<=?720][vcodec!=?none]", "[vcodec!=?none]", ""]
  .map((f) => `best${f}${HTTP_PROTOCOLS}`)
  .join("/");

/** What the transcript step learns of a URL video, for the steps after it. */
export interface UrlVideo {
  segments: TranscriptSegment[];
  durationMs: number;
  /** yt-dlp's information about the video, saved in the job's directory: later runs load it instead of fetching the page again. */
  infoFile: string;
}

interface VideoInfo extends CaptionInfo {
  _type?: string;
  entries?: VideoInfo[];
  duration?: number | null;
}

const ytDlp = (ctx: StepContext) => ({
  path: ctx.config.YTDLP_PATH,
  signal: ctx.signal,
  timeoutMs: ctx.config.YTDLP_TIMEOUT_MS,
  cwd: ctx.dir,
});

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * Runs yt-dlp with everything it fetches (page, captions, media, every redirect) going through an
 * egress proxy of its own on 127.0.0.1, which applies the egress policy to each connection. Any
 * refusal fails the job for good with `forbidden` and the reason, whatever yt-dlp made of the 403
 * (it only warns about a caption it could not fetch, for one).
 */
async function runYtDlpEgress(ctx: StepContext, args: readonly string[], run: YtDlpRun): Promise<string> {
  const proxy = await startEgressProxy(ctx.egress, {
    onRefused: (err) => ctx.log.warn({ analysisId: ctx.job.analysisId, reason: err.message }, "egress refused"),
  });
  const refused = () => {
    const first = proxy.refusals[0];
    return first && !ctx.signal.aborted
      ? new FinalError("forbidden", `the URL led to an address that is not allowed: ${first.message}`)
      : null;
  };
  try {
    const out = await runYtDlp(["--proxy", proxy.url, ...args], run).catch((err: unknown) => {
      throw refused() ?? err;
    });
    const r = refused();
    if (r) throw r;
    return out;
  } finally {
    await proxy.close();
  }
}

/**
 * The transcript step of a URL analysis: yt-dlp reads the page (YouTube, a page with an HTML5
 * `<video>` and `<track>`, or a direct media URL), the caption track is chosen (manual subtitles
 * first, else the automatic captions) and fetched by yt-dlp, and read into segments (YouTube's
 * rolling automatic captions de-duplicated). None → fails for good with "no transcript available".
 */
export async function fetchUrlTranscript(ctx: StepContext, url: string): Promise<UrlVideo> {
  ctx.report(progressAt("transcript", 0));
  const json = await runYtDlpEgress(ctx, ["--dump-single-json", "--", url], {
    ...ytDlp(ctx),
    captureStdout: MAX_INFO_BYTES,
  });
  let info: VideoInfo;
  try {
    info = JSON.parse(json) as VideoInfo;
  } catch {
    throw new FinalError("invalid_argument", "yt-dlp gave no information about the URL");
  }
  // A page with several videos is a playlist: its first video is the one analysed.
  if (info._type === "playlist") {
    const first = info.entries?.[0];
    if (!first) throw new FinalError("invalid_argument", "no video found at the URL");
    info = first;
  }
  const infoFile = join(ctx.dir, "info.json");
  await writeFile(infoFile, JSON.stringify(info));
  ctx.report(progressAt("transcript", 0.4));

  const choice = chooseCaptions(info);
  if (!choice) throw new NoTranscriptError();
  await runYtDlpEgress(
    ctx,
    [
      "--load-info-json",
      infoFile,
      "--skip-download",
      choice.automatic ? "--write-auto-subs" : "--write-subs",
      "--sub-langs",
      `^${escapeRegex(choice.lang)}$`,
      "--sub-format",
      "vtt/srt/best",
      "-P",
      ctx.dir,
      "-o",
      "captions.%(ext)s",
    ],
    ytDlp(ctx),
  );
  const name = (await readdir(ctx.dir)).find((n) => n.startsWith("captions."));
  if (!name) throw new NoTranscriptError();
  const file = join(ctx.dir, name);
  if ((await stat(file)).size > MAX_CAPTION_BYTES)
    throw new FinalError("invalid_argument", "the captions are too large");
  const text = await readFile(file, "utf8");
  const segments = name.endsWith(".vtt")
    ? choice.automatic
      ? dedupeRollingCaptions(text)
      : parseTimedTranscript(text, "vtt")
    : name.endsWith(".srt")
      ? parseTimedTranscript(text, "srt")
      : segmentsFromFile(name, text);
  if (segments.length === 0) throw new NoTranscriptError();
  ctx.signal.throwIfAborted();
  ctx.report(progressAt("transcript", 1));
  const durationMs =
    typeof info.duration === "number" && info.duration > 0
      ? Math.round(info.duration * 1000)
      : Math.max(...segments.map((s) => s.end));
  return { segments, durationMs, infoFile };
}

/** Bytes in the files of a directory (not recursive). */
async function sizeOf(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir)) total += (await stat(join(dir, name)).catch(() => ({ size: 0 }))).size;
  return total;
}

/**
 * The keyframes step's source for a URL: yt-dlp downloads the media into the job's directory,
 * bounded in size (its `--max-filesize` for a declared size, and a watch on the bytes written for
 * an undeclared one) and in time, killed with its children on cancel.
 */
export function urlVideoFetcher(infoFile: string): FetchVideo {
  return async (ctx, file) => {
    const out = join(ctx.dir, "download");
    await mkdir(out);
    const max = ctx.config.YTDLP_MAX_BYTES;
    const tooLarge = new AbortController();
    // yt-dlp refuses a declared size over --max-filesize by skipping the download (exit 0).
    let declaredTooLarge = false;
    const watch = setInterval(() => {
      sizeOf(out).then(
        (n) => {
          if (n > max) tooLarge.abort("too large");
        },
        () => undefined,
      );
    }, 250);
    const ffmpeg = ctx.config.FFMPEG_PATH.includes("/") ? ["--ffmpeg-location", ctx.config.FFMPEG_PATH] : [];
    try {
      await runYtDlpEgress(
        ctx,
        [
          "--load-info-json",
          infoFile,
          "-f",
          FORMAT,
          // Native downloaders (HLS and DASH included): their requests go through the proxy.
          "--downloader",
          "native",
          "--max-filesize",
          String(max),
          "--no-part",
          "--newline",
          "--progress-template",
          "download:progress %(progress.downloaded_bytes)s %(progress.total_bytes)s %(progress.total_bytes_estimate)s",
          ...ffmpeg,
          "-P",
          out,
          "-o",
          "video.%(ext)s",
        ],
        {
          ...ytDlp(ctx),
          signal: AbortSignal.any([ctx.signal, tooLarge.signal]),
          onStart: (pid) => ctx.log.debug({ pid, analysisId: ctx.job.analysisId }, "yt-dlp download started"),
          onLine(line) {
            if (line.includes("larger than max-filesize")) declaredTooLarge = true;
            const m = /^progress (\d+) (\S+) (\S+)$/.exec(line);
            const total = Number(m?.[2]) || Number(m?.[3]);
            if (m && total > 0) ctx.report(progressAt("keyframes", DOWNLOAD * Math.min(1, Number(m[1]) / total)));
          },
        },
      );
    } catch (err) {
      if (tooLarge.signal.aborted && !ctx.signal.aborted) {
        throw new FinalError("invalid_argument", `the video is larger than ${max} bytes`);
      }
      throw err;
    } finally {
      clearInterval(watch);
    }
    if (declaredTooLarge) throw new FinalError("invalid_argument", `the video is larger than ${max} bytes`);
    const names = await readdir(out);
    const name = names.find((n) => n.startsWith("video."));
    if (!name) throw new FinalError("invalid_argument", "yt-dlp downloaded nothing");
    if ((await stat(join(out, name))).size > max)
      throw new FinalError("invalid_argument", `the video is larger than ${max} bytes`);
    await rename(join(out, name), file);
  };
}
