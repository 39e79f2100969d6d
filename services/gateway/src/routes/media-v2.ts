import {
  analysisCatalog,
  type ContentMeta,
  Filename,
  invalidArgument,
  mediaCatalog,
  mediaV2Routes,
  type TranscriptFormat,
  TrellisError,
  transcriptFormatOf,
  UserId,
  type Video,
} from "@trellis/contracts";
import type { IncomingStream } from "@trellis/runtime";
import type { Request, Response, Router } from "express";
import { z } from "zod";
import { httpStatusForRead, toTrellisError } from "../http/errors.ts";
import type { Caller, Mount } from "../http/mount.ts";
import { readMultipart } from "../http/multipart.ts";
import { sendStream } from "../http/stream.ts";
import { declaredSize, readText, requestBody, uploading } from "../http/upload.ts";

/** Media is private: only the owner's browser may keep a copy, and it revalidates (ETag) each time. */
const CACHE_CONTROL = "private, max-age=0, must-revalidate";

/** The largest transcript accepted with a video (as media's contract says). */
const MAX_TRANSCRIPT_BYTES = 1_000_000;

const VideoFormFields = z.object({
  transcript: z.string().min(1).optional(),
  user_id: UserId.optional(),
  filename: Filename.optional(),
});

/** The filename of a video upload: `filename` in the query, else `X-Filename` (percent-encoded). */
function filenameOf(query: string | undefined, header: string | undefined): string {
  if (query !== undefined) return query;
  if (header !== undefined) {
    try {
      return decodeURIComponent(header);
    } catch {
      throw new TrellisError("invalid_argument", "X-Filename is not valid percent-encoding");
    }
  }
  throw new TrellisError("invalid_argument", "filename is required: pass ?filename= or an X-Filename header");
}

/** The headers every answer about stored content carries. */
function contentHeaders(meta: ContentMeta): Record<string, string> {
  return {
    ETag: meta.etag,
    "Last-Modified": new Date(meta.lastModified).toUTCString(),
    "Cache-Control": CACHE_CONTROL,
  };
}

/**
 * Answers a read as media decided it (its `outcome`, as `httpStatusForRead` maps it): 304 and 416
 * without a body (the stream is empty), 200/206 with exactly `Content-Length` bytes streamed at
 * the client's pace.
 */
async function answerRead(
  req: Request,
  res: Response,
  stream: IncomingStream<ContentMeta>,
  extra: Record<string, string> = {},
  ranges = false,
): Promise<
  { status: 304; headers: Record<string, string> } | { status: 416; headers: Record<string, string> } | undefined
> {
  const { meta } = stream;
  const status = httpStatusForRead(meta.outcome);
  const headers = { ...contentHeaders(meta), ...(ranges ? { "Accept-Ranges": "bytes" } : {}), ...extra };
  if (status === 304 || status === 416) {
    for await (const _ of stream.chunks); // up to the end marker: there are no bytes
    if (status === 304) return { status: 304, headers };
    return { status: 416, headers: { ...headers, "Content-Range": `bytes */${meta.size}` } };
  }
  const length = meta.range ? meta.range.end - meta.range.start + 1 : 0;
  await sendStream(req, res, stream, {
    status,
    contentType: meta.contentType,
    headers: {
      ...headers,
      "Content-Length": String(length),
      ...(status === 206 && meta.range
        ? { "Content-Range": `bytes ${meta.range.start}-${meta.range.end}/${meta.size}` }
        : {}),
    },
  });
  return undefined;
}

/**
 * Routes whose body is the bytes of a file: registered before the JSON body parser, which must
 * not read them. The body goes to media as media reads it (`call.upload`), never whole in memory.
 */
export function registerMediaUploads(router: Router, mount: Mount): void {
  const r = mediaV2Routes;

  mount(router, r.uploadPicture, async ({ params, req, res, call }) => {
    const picture = await uploading(req, res, async () => {
      if (!req.is("multipart/form-data")) {
        return call.upload(mediaCatalog.uploadPicture, { userId: params.id, ...declaredSize(req) }, requestBody(req));
      }
      // A browser form or `curl -F file=@pic.png`: the `file` part alone (its size is not the body's).
      const form = await readMultipart(req, { file: "file", fields: [], maxFieldBytes: 0 });
      return call.upload(mediaCatalog.uploadPicture, { userId: params.id }, form.file.body);
    });
    return { status: 201, body: picture, headers: { Location: `/api/v2/pictures/${picture.id}` } };
  });

  // A text body, read whole (1 MB at most) before media is asked; here so the JSON parser skips it.
  mount(router, r.putTranscript, async ({ params, req, res, call }) => {
    const video = await uploading(req, res, async () => {
      const format = transcriptFormatOfRequest(req);
      const text = await readText(req, MAX_TRANSCRIPT_BYTES);
      return call(mediaCatalog.setTranscript, { videoId: params.id, format, text });
    });
    return { status: 200, body: video };
  });

  mount(router, r.uploadVideo, async ({ query, headers, req, res, call }) => {
    const video = await uploading(req, res, async () => {
      if (!req.is("multipart/form-data")) {
        return call.upload(
          mediaCatalog.uploadVideo,
          {
            filename: filenameOf(query.filename, headers["x-filename"]),
            ...(query.user_id !== undefined ? { ownerId: query.user_id } : {}),
            ...declaredSize(req),
          },
          requestBody(req),
        );
      }
      // Seed 000's insert_video(vid, user_uuid, filename, video_transcript) as a form, parts in any
      // order: what comes before the file goes with the upload; a transcript after it is applied
      // once the video is stored (user_id and filename decide where and how it is stored: before).
      const form = await readMultipart(req, {
        file: "file",
        fields: ["transcript", "user_id", "filename"],
        afterFile: ["transcript"],
        maxFieldBytes: MAX_TRANSCRIPT_BYTES,
      });
      const fields = VideoFormFields.safeParse(form.fields);
      if (!fields.success) throw invalidArgument(fields.error, "form");
      const { transcript, user_id: owner } = fields.data;
      const filename = fields.data.filename ?? query.filename ?? form.file.filename;
      const ownerId = owner ?? query.user_id;
      const late: { transcript?: string | undefined } = {};
      const stored = await call.upload(
        mediaCatalog.uploadVideo,
        {
          filename: filenameOf(filename, headers["x-filename"]),
          ...(ownerId !== undefined ? { ownerId } : {}),
          ...(transcript !== undefined ? { transcript } : {}),
        },
        // The late parts are known when the file ends: a malformed one fails the upload (nothing stored).
        (async function* () {
          yield* form.file.body;
          const after = VideoFormFields.pick({ transcript: true }).safeParse(form.after);
          if (!after.success) throw invalidArgument(after.error, "form");
          late.transcript = after.data.transcript;
        })(),
      );
      return late.transcript === undefined ? stored : applyLateTranscript(call, stored.id, late.transcript, req);
    });
    return { status: 201, body: video, headers: { Location: `/api/v2/videos/${video.id}` } };
  });
}

/**
 * A transcript that came after the file part, applied to the video just stored (through media's
 * transcript call, which recognises its format from the text as an upload's transcript is). The
 * form is all or nothing: when the transcript is refused (invalid WebVTT or SRT, or media cannot
 * take it), the video is deleted again and the answer is that refusal, so the client never holds
 * a video it was told was not stored.
 */
async function applyLateTranscript(call: Caller, videoId: string, text: string, req: Request): Promise<Video> {
  try {
    return await call(mediaCatalog.setTranscript, { videoId, text });
  } catch (err) {
    await call(mediaCatalog.deleteVideo, { videoId }).catch((cause) =>
      req.log.error({ err: cause, videoId }, "removing a video whose late transcript was refused failed"),
    );
    const refusal = toTrellisError(err);
    throw new TrellisError(refusal.code, `the transcript was refused, so the video was not kept: ${refusal.message}`, {
      ...(refusal.details ? { details: refusal.details } : {}),
      cause: err,
    });
  }
}

/** Transcripts are plain text, WebVTT or SRT, named by the request's Content-Type. */
function transcriptFormatOfRequest(req: Request): TranscriptFormat {
  const format = transcriptFormatOf(req.get("content-type"));
  if (format === null) {
    throw new TrellisError(
      "unsupported_media_type",
      "send the transcript as text/plain, text/vtt (WebVTT) or application/x-subrip (SRT)",
    );
  }
  return format;
}

/** Pictures and videos of the modern API. Authorization is decided by media, from `actor`. */
export function registerMediaV2(router: Router, mount: Mount): void {
  const r = mediaV2Routes;

  mount(router, r.listPictures, async ({ params, query, call }) => ({
    status: 200,
    body: await call(mediaCatalog.listPictures, {
      userId: params.id,
      limit: query.limit,
      ...(query.cursor !== undefined ? { cursor: query.cursor } : {}),
    }),
  }));

  mount(router, r.getPicture, async ({ params, call }) => ({
    status: 200,
    body: await call(mediaCatalog.getPicture, { pictureId: params.id }),
  }));

  for (const [route, variant] of [
    [r.pictureContent, "original"],
    [r.pictureThumbnail, "thumbnail"],
  ] as const) {
    mount(router, route, async ({ params, headers, req, res, call }) => {
      const stream = await call.stream(mediaCatalog.readPicture, {
        pictureId: params.id,
        variant,
        ...(headers["if-none-match"] !== undefined ? { ifNoneMatch: headers["if-none-match"] } : {}),
      });
      const answer = await answerRead(req, res, stream);
      return answer?.status === 304 ? { status: 304, headers: answer.headers } : undefined;
    });
  }

  mount(router, r.deletePicture, async ({ params, call }) => {
    await call(mediaCatalog.deletePicture, { pictureId: params.id });
    return { status: 204 };
  });

  mount(router, r.listVideos, async ({ query, call }) => ({
    status: 200,
    body: await call(mediaCatalog.listVideos, {
      limit: query.limit,
      ...(query.user_id !== undefined ? { ownerId: query.user_id } : {}),
      ...(query.cursor !== undefined ? { cursor: query.cursor } : {}),
    }),
  }));

  mount(router, r.getVideo, async ({ params, call }) => ({
    status: 200,
    body: await call(mediaCatalog.getVideo, { videoId: params.id }),
  }));

  type ReadInput = Parameters<Parameters<Mount>[2]>[0] & {
    params: { id: string };
    headers: { range?: string | undefined; "if-range"?: string | undefined; "if-none-match"?: string | undefined };
  };
  const readVideo = async ({ params, headers, req, res, call }: ReadInput) => {
    const stream = await call.stream(mediaCatalog.readVideo, {
      videoId: params.id,
      headOnly: req.method === "HEAD",
      ...(headers.range !== undefined ? { range: headers.range } : {}),
      ...(headers["if-range"] !== undefined ? { ifRange: headers["if-range"] } : {}),
      ...(headers["if-none-match"] !== undefined ? { ifNoneMatch: headers["if-none-match"] } : {}),
    });
    const video = stream.meta.video;
    // Seed 000's get_video_stream answers [user_uuid, filename, video_transcript] with the bytes.
    const seed = { "X-Owner-Id": video.ownerId, "X-Filename": encodeURIComponent(video.filename) };
    return { answer: await answerRead(req, res, stream, seed, true), size: stream.meta.size };
  };

  // HEAD first: Express would otherwise answer HEAD with the GET route.
  mount(router, r.headVideoContent, async (input) => {
    const { answer } = await readVideo(input);
    return answer;
  });

  mount(router, r.videoContent, async (input) => {
    const { answer, size } = await readVideo(input);
    if (answer?.status !== 416) return answer;
    const error = new TrellisError("invalid_argument", `range not satisfiable: the video has ${size} bytes`);
    return { status: 416, headers: answer.headers, body: { error: error.toBody() } };
  });

  /**
   * A learner's read of an analysis's video: the analysis service names the video (and refuses who
   * may not answer it), media checks the same with it before sending a byte. No owner or filename
   * headers: they are the owner's business.
   */
  type QuizReadInput = Omit<ReadInput, "params"> & { params: { id: string } };
  const readQuizVideo = async ({ params, headers, req, res, call }: QuizReadInput) => {
    const quiz = await call(analysisCatalog.quiz, { analysisId: params.id });
    if (quiz.url !== undefined) throw new TrellisError("not_found", "a URL analysis has no stored video");
    const stream = await call.stream(mediaCatalog.readVideo, {
      videoId: quiz.videoId,
      analysisId: quiz.analysisId,
      headOnly: req.method === "HEAD",
      ...(headers.range !== undefined ? { range: headers.range } : {}),
      ...(headers["if-range"] !== undefined ? { ifRange: headers["if-range"] } : {}),
      ...(headers["if-none-match"] !== undefined ? { ifNoneMatch: headers["if-none-match"] } : {}),
    });
    return { answer: await answerRead(req, res, stream, {}, true), size: stream.meta.size };
  };

  mount(router, r.headQuizVideo, async (input) => (await readQuizVideo(input)).answer);

  mount(router, r.quizVideo, async (input) => {
    const { answer, size } = await readQuizVideo(input);
    if (answer?.status !== 416) return answer;
    const error = new TrellisError("invalid_argument", `range not satisfiable: the video has ${size} bytes`);
    return { status: 416, headers: answer.headers, body: { error: error.toBody() } };
  });

  mount(router, r.getTranscript, async ({ params, req, res, call }) => {
    const webvtt = req.accepts(["application/json", "text/vtt"]) === "text/vtt";
    const { webvtt: text, ...transcript } = await call(mediaCatalog.getTranscript, { videoId: params.id, webvtt });
    if (!webvtt || text === undefined) return { status: 200, body: transcript };
    res.status(200).type("text/vtt; charset=utf-8").send(text);
    return undefined;
  });

  mount(router, r.deleteVideo, async ({ params, call }) => {
    await call(mediaCatalog.deleteVideo, { videoId: params.id });
    return { status: 204 };
  });
}
