import { z } from "zod";
import { AnalysisId } from "../analysis.ts";
import { PageCursor, UserId } from "../identity.ts";
import {
  Filename,
  MediaId,
  mediaCatalog,
  Picture,
  PicturesPage,
  Transcript,
  TusUpload,
  Video,
  VideosPage,
} from "../media.ts";
import { TUS } from "../tus.ts";
import { authErrors, ErrorResponse } from "./errors-http.ts";
import { route } from "./route.ts";

const e = (description: string) => ({ description, schema: ErrorResponse });
const idParams = z.object({ id: MediaId });
const userParams = z.object({ id: UserId });
const noContent = { 204: { description: "Deleted." } } as const;
const page = {
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: PageCursor.optional(),
};

/**
 * Who sees what: the owner and admins. Anyone else gets **404** for a picture or video id (the
 * same answer as for an id that does not exist, so ids cannot be probed) and **403** for another
 * user's collection (`/users/{id}/pictures`, `?user_id=`), where the id is the caller's own
 * business. Monitors (v1 tokens of devices) get **403** on every media route.
 */
const access = {
  ...authErrors,
  403: e("A monitor, or another user's collection."),
} as const;
const missing = { 404: e("No such picture or video, or not yours.") } as const;
const quizMissing = {
  404: e("No such analysis, not one the caller may answer, a URL analysis, or its video is gone."),
} as const;

const conditional = z.object({
  "if-none-match": z
    .string()
    .max(4_000)
    .optional()
    .describe("ETags of copies the client has: 304 when one is current."),
});
const ranged = conditional.extend({
  range: z
    .string()
    .max(1_000)
    .optional()
    .describe("`bytes=<first>-<last>`, `bytes=<first>-` or `bytes=-<suffix>`; several ranges are answered 200 whole."),
  "if-range": z
    .string()
    .max(1_000)
    .optional()
    .describe("The ETag the client's partial copy has: a stale one gets 200 whole."),
});

const bodyHeaders = {
  ETag: 'Strong: `"<sha256>"`.',
  "Last-Modified": "When it was stored.",
  "Cache-Control": "`private, max-age=0, must-revalidate`: only the owner's browser keeps a copy, and revalidates it.",
} as const;
const rangeHeaders = {
  ...bodyHeaders,
  "Accept-Ranges": "`bytes`.",
  "Content-Length": "Exactly the bytes that follow.",
} as const;

/** A ranged video read's answers (200 whole, 206 one range, 304, 416): videos' content and a quiz's video. */
const videoRangeRead = {
  200: { description: "The whole video.", contentType: "video/*", headers: rangeHeaders },
  206: {
    description: "One range of it.",
    contentType: "video/*",
    headers: { ...rangeHeaders, "Content-Range": "`bytes <first>-<last>/<size>`." },
  },
  304: { description: "The client's copy is current.", headers: bodyHeaders },
  416: {
    description: "The range is outside the video.",
    schema: ErrorResponse,
    headers: { "Content-Range": "`bytes */<size>`." },
  },
} as const;
/** The same as HEAD answers it: what would follow, without the bytes. */
const videoRangeProbe = {
  200: { description: "The whole video would follow.", headers: rangeHeaders },
  206: {
    description: "The range would follow.",
    headers: { ...rangeHeaders, "Content-Range": "`bytes <first>-<last>/<size>`." },
  },
  304: { description: "The client's copy is current.", headers: bodyHeaders },
  416: { description: "The range is outside the video.", headers: { "Content-Range": "`bytes */<size>`." } },
} as const;

/** tus 1.0: every request but OPTIONS names the protocol version (412 otherwise). */
const tusResumable = z
  .literal(TUS.version)
  .describe(`\`${TUS.version}\`, required on every tus request but OPTIONS (another version or none: 412).`);
/** A byte count as tus sends it. */
const byteCount = (description: string) =>
  z
    .string()
    .regex(/^\d{1,16}$/, "must be a byte count")
    .describe(description);
const tusHeaders = { "Tus-Resumable": `\`${TUS.version}\`.` } as const;
const tusVersion = {
  412: {
    description: `\`Tus-Resumable\` is missing or not \`${TUS.version}\`.`,
    schema: ErrorResponse,
    headers: { "Tus-Version": `\`${TUS.version}\`, the only version served.` },
  },
} as const;
const checksumAlgorithms = TUS.checksumAlgorithms.join("|");
const expires = { "Upload-Expires": "When the upload is removed unless a PATCH comes first (HTTP date)." } as const;
const tusMissing = { 404: e("No such upload, expired, finished, or not yours.") } as const;

export const mediaV2Routes = {
  uploadPicture: route({
    method: "post",
    path: "/api/v2/users/:id/pictures",
    operationId: "uploadPicture",
    summary:
      "Upload a picture for a user (self or admin): the raw request body, or a `multipart/form-data` form with one `file` part (a browser form, `curl -F file=@pic.png`), streamed. JPEG, PNG, WebP, GIF or AVIF, decided from the bytes (the declared type and any name are ignored). A 256 px WebP thumbnail is made once, now.",
    tags: ["pictures"],
    auth: "bearer",
    params: userParams,
    rawBody: {
      description: "The image's bytes, or a `multipart/form-data` form whose only part is `file`.",
      contentTypes: ["image/*", "application/octet-stream"],
      multipart: z.object({
        file: z
          .string()
          .meta({ format: "binary", contentMediaType: "application/octet-stream" })
          .describe("The image."),
      }),
    },
    responses: {
      201: { description: "Stored.", schema: Picture, headers: { Location: "`/api/v2/pictures/{id}`." } },
      ...access,
      400: e("A form without a `file` part, with another part, or malformed."),
      404: e("No such user (admins)."),
      413: e("Larger than the picture size limit, or past the user's storage quota."),
      415: e("Not one of the accepted image types (SVG included), whatever it was called."),
    },
  }),
  listPictures: route({
    method: "get",
    path: "/api/v2/users/:id/pictures",
    operationId: "listPictures",
    summary: "A user's pictures, newest first, a page at a time (self or admin).",
    tags: ["pictures"],
    auth: "bearer",
    params: userParams,
    query: z.object(page),
    responses: { 200: { description: "A page; `next` continues it.", schema: PicturesPage }, ...access },
  }),
  getPicture: route({
    method: "get",
    path: "/api/v2/pictures/:id",
    operationId: "getPicture",
    summary: "A picture's metadata.",
    tags: ["pictures"],
    auth: "bearer",
    params: idParams,
    responses: { 200: { description: "The picture.", schema: Picture }, ...missing, ...access },
  }),
  pictureContent: route({
    method: "get",
    path: "/api/v2/pictures/:id/content",
    operationId: "getPictureContent",
    summary: "A picture's bytes, with its type as `Content-Type` and a strong ETag; `If-None-Match` → 304.",
    tags: ["pictures"],
    auth: "bearer",
    params: idParams,
    headers: conditional,
    responses: {
      200: { description: "The image.", contentType: "image/*", headers: bodyHeaders },
      304: { description: "The client's copy is current.", headers: bodyHeaders },
      ...missing,
      ...access,
    },
  }),
  pictureThumbnail: route({
    method: "get",
    path: "/api/v2/pictures/:id/thumbnail",
    operationId: "getPictureThumbnail",
    summary: "The picture's thumbnail: WebP, longest side 256 px (never larger than the original).",
    tags: ["pictures"],
    auth: "bearer",
    params: idParams,
    headers: conditional,
    responses: {
      200: { description: "The thumbnail.", contentType: "image/webp", headers: bodyHeaders },
      304: { description: "The client's copy is current.", headers: bodyHeaders },
      ...missing,
      ...access,
    },
  }),
  deletePicture: route({
    method: "delete",
    path: "/api/v2/pictures/:id",
    operationId: "deletePicture",
    summary: "Delete a picture and its thumbnail.",
    tags: ["pictures"],
    auth: "bearer",
    params: idParams,
    responses: { ...noContent, ...missing, ...access },
  }),

  uploadVideo: route({
    method: "post",
    path: "/api/v2/videos",
    operationId: "uploadVideo",
    summary:
      "Upload a video (any size, streamed, never whole in memory): the raw body, or a `multipart/form-data` form with a `file` part and optional `transcript`, `user_id` and `filename` parts. MP4/MOV, WebM, MKV and other containers, decided from the bytes. The filename comes from the form, `filename`, `X-Filename` or the file part (UTF-8); an admin may upload for `user_id`. Parts may come in any order (browsers' `FormData` and `curl -F` put the file first), except `user_id` and `filename`, which decide how the file is stored and must come before it (400 otherwise, nothing stored). A `transcript` after the file is applied once the video is stored and the 201 has it (`hasTranscript`); the form is all or nothing: a refused transcript (e.g. invalid WebVTT, 400) removes the video again.",
    tags: ["videos"],
    auth: "bearer",
    query: z.object({
      filename: Filename.optional().describe("The video's filename (or send `X-Filename`)."),
      user_id: UserId.optional().describe("The owner, for admins; the caller by default."),
    }),
    headers: z.object({
      "x-filename": z
        .string()
        .max(1_000)
        .optional()
        .describe("The filename, percent-encoded when it is not ASCII (the `filename` query parameter wins)."),
    }),
    rawBody: {
      description:
        "The video's bytes, or a `multipart/form-data` form (seed 000 `insert_video`) whose `file` part is streamed.",
      contentTypes: ["video/*", "application/octet-stream"],
      multipart: z.object({
        transcript: z
          .string()
          .min(1)
          .optional()
          .describe(
            "The transcript: text, or a small file (up to 1 MB of UTF-8) read as text; plain, WebVTT or SRT, recognised from the text. Before or after `file`.",
          ),
        user_id: UserId.optional().describe("The owner, for admins. Before `file`."),
        filename: Filename.optional().describe("Overrides the file part's own filename. Before `file`."),
        file: z
          .string()
          .meta({ format: "binary", contentMediaType: "application/octet-stream" })
          .describe("The video."),
      }),
    },
    responses: {
      201: { description: "Stored.", schema: Video, headers: { Location: "`/api/v2/videos/{id}`." } },
      ...access,
      400: e(
        "No filename; a form without `file`, with an unknown or repeated part, `user_id`/`filename` after `file`, or malformed; an invalid transcript. Nothing is stored.",
      ),
      404: e("No such user (admins)."),
      413: e("Larger than the video size limit, or past the user's storage quota; a transcript over 1 MB."),
      415: e("Not a video container media recognises, whatever it was called."),
    },
  }),
  listVideos: route({
    method: "get",
    path: "/api/v2/videos",
    operationId: "listVideos",
    summary:
      "A user's videos (seed 000 `get_video_id_of_user`), newest first, a page at a time: the caller's own, or `user_id`'s (self or admin).",
    tags: ["videos"],
    auth: "bearer",
    query: z.object({ user_id: UserId.optional(), ...page }),
    responses: { 200: { description: "A page; `next` continues it.", schema: VideosPage }, ...access },
  }),
  getVideo: route({
    method: "get",
    path: "/api/v2/videos/:id",
    operationId: "getVideo",
    summary: "A video's metadata and transcript (seed 000: owner, filename, transcript).",
    tags: ["videos"],
    auth: "bearer",
    params: idParams,
    responses: { 200: { description: "The video.", schema: mediaCatalog.getVideo.reply }, ...missing, ...access },
  }),
  headVideoContent: route({
    method: "head",
    path: "/api/v2/videos/:id/content",
    operationId: "headVideoContent",
    summary: "What `GET …/content` would answer, without the bytes (players probe size and range support).",
    tags: ["videos"],
    auth: "bearer",
    params: idParams,
    headers: ranged,
    responses: {
      ...videoRangeProbe,
      ...missing,
      ...access,
    },
  }),
  videoContent: route({
    method: "get",
    path: "/api/v2/videos/:id/content",
    operationId: "getVideoContent",
    summary:
      "A video's bytes (seed 000 `get_video_stream`), streamed at the client's pace, with HTTP Range: one range → 206; several → 200 whole; a stale `If-Range` → 200 whole; `If-None-Match` → 304. A seek reads from the range's first chunk on. `X-Owner-Id` and `X-Filename` carry the seed's owner and filename; the transcript is at `GET /api/v2/videos/{id}`.",
    tags: ["videos"],
    auth: "bearer",
    params: idParams,
    headers: ranged,
    responses: {
      ...videoRangeRead,
      ...missing,
      ...access,
    },
  }),
  headQuizVideo: route({
    method: "head",
    path: "/api/v2/analyses/:id/video",
    operationId: "headQuizVideo",
    summary: "What `GET /api/v2/analyses/{id}/video` would answer, without the bytes.",
    tags: ["videos", "answers"],
    auth: "bearer",
    params: z.object({ id: AnalysisId }),
    headers: ranged,
    responses: {
      ...videoRangeProbe,
      ...quizMissing,
      ...access,
    },
  }),
  quizVideo: route({
    method: "get",
    path: "/api/v2/analyses/:id/video",
    operationId: "getQuizVideo",
    summary:
      "The video of an analysis, for whoever may answer its questions (its owner, admins, and any signed-in user once it is shared or linked to a tracked video): the learner's quiz player plays it. Bytes and Range as `GET /api/v2/videos/{id}/content` (206 for one range, 304, 416), without the owner and filename headers. A URL analysis has no stored video (404).",
    tags: ["videos", "answers"],
    auth: "bearer",
    params: z.object({ id: AnalysisId }),
    headers: ranged,
    responses: {
      ...videoRangeRead,
      ...quizMissing,
      ...access,
    },
  }),
  putTranscript: route({
    method: "put",
    path: "/api/v2/videos/:id/transcript",
    operationId: "putVideoTranscript",
    summary:
      "Replace a video's transcript: `text/plain`, `text/vtt` (WebVTT) or `application/x-subrip` (SRT), up to 1 MB of UTF-8. WebVTT and SRT are validated and parsed into timed segments; an invalid file is a 400 naming the wrong line.",
    tags: ["videos"],
    auth: "bearer",
    params: idParams,
    rawBody: { description: "The transcript.", contentTypes: ["text/plain", "text/vtt", "application/x-subrip"] },
    responses: {
      200: { description: "The video, now with a transcript.", schema: Video },
      ...missing,
      ...access,
      413: e("Longer than 1 MB."),
      415: e("Not text/plain, text/vtt or application/x-subrip (a `multipart/form-data` form included)."),
    },
  }),
  getTranscript: route({
    method: "get",
    path: "/api/v2/videos/:id/transcript",
    operationId: "getVideoTranscript",
    summary:
      "A video's transcript: JSON `{format, text, segments: [{start, end, text}], updatedAt}` (times in ms), or WebVTT with `Accept: text/vtt` (SRT converted; plain text as one cue over the video).",
    tags: ["videos"],
    auth: "bearer",
    params: idParams,
    responses: {
      200: { description: "The transcript (JSON; `text/vtt` when asked for).", schema: Transcript },
      404: e("No such video, not yours, or it has no transcript."),
      ...access,
    },
  }),
  deleteVideo: route({
    method: "delete",
    path: "/api/v2/videos/:id",
    operationId: "deleteVideo",
    summary: "Delete a video (seed 000 `delete_video`); a missing one is a 404.",
    tags: ["videos"],
    auth: "bearer",
    params: idParams,
    responses: { ...noContent, ...missing, ...access },
  }),
  tusOptions: route({
    method: "options",
    path: TUS.path,
    operationId: "tusOptions",
    summary:
      "tus 1.0 discovery: the version, extensions (creation, termination, expiration, checksum) and the largest upload. Resumable uploads of videos, for tus-js-client / Uppy; see docs/media.md.",
    tags: ["uploads"],
    auth: "public",
    responses: {
      204: {
        description: "What the server speaks.",
        headers: {
          ...tusHeaders,
          "Tus-Version": `\`${TUS.version}\`.`,
          "Tus-Extension": `\`${TUS.extensions.join(",")}\`.`,
          "Tus-Max-Size": "The largest video, in bytes.",
          "Tus-Checksum-Algorithm": `\`${TUS.checksumAlgorithms.join(",")}\`.`,
        },
      },
    },
  }),
  tusCreate: route({
    method: "post",
    path: TUS.path,
    operationId: "tusCreate",
    summary:
      "tus creation: starts a resumable video upload of `Upload-Length` bytes. `Upload-Metadata` (tus: `key base64value` pairs, comma-separated) must have `filename` and may have `transcript`. Send the bytes with PATCH; the finished upload is the video with the same id.",
    tags: ["uploads"],
    auth: "bearer",
    headers: z.object({
      "tus-resumable": tusResumable,
      "upload-length": byteCount("The whole upload's size in bytes."),
      "upload-metadata": z
        .string()
        .max(2_000_000)
        .describe(
          "`filename <base64>` (required), `transcript <base64>` (optional), comma-separated; the decoded filename must be a valid file name and the values UTF-8 (else 400).",
        ),
    }),
    responses: {
      201: {
        description: "Created; PATCH the bytes to `Location`.",
        schema: TusUpload,
        headers: { ...tusHeaders, ...expires, Location: "`/api/v2/uploads/{id}`." },
      },
      ...authErrors,
      400: e("Upload-Length or Upload-Metadata missing or malformed (or Upload-Defer-Length, not supported)."),
      403: e("A monitor."),
      ...tusVersion,
      413: e("Larger than the video size limit (Tus-Max-Size), or past the user's storage quota."),
    },
  }),
  tusHead: route({
    method: "head",
    path: `${TUS.path}/:id` as const,
    operationId: "tusHead",
    summary: "tus: how many bytes of the upload media holds (`Upload-Offset`): resume from there.",
    tags: ["uploads"],
    auth: "bearer",
    params: idParams,
    headers: z.object({ "tus-resumable": tusResumable }),
    responses: {
      200: {
        description: "The upload's state.",
        headers: {
          ...tusHeaders,
          ...expires,
          "Upload-Offset": "Bytes held.",
          "Upload-Length": "The whole upload's size.",
          "Upload-Metadata": "`filename` as created.",
          "Cache-Control": "`no-store`.",
        },
      },
      ...tusMissing,
      ...authErrors,
      403: e("A monitor."),
      ...tusVersion,
    },
  }),
  tusPatch: route({
    method: "patch",
    path: `${TUS.path}/:id` as const,
    operationId: "tusPatch",
    summary:
      "tus: appends the body at `Upload-Offset` (which must be the upload's offset: 409 otherwise), streamed to media and kept as it comes; what arrived before a cut is kept (HEAD tells). The last byte makes it a video (`GET /api/v2/videos/{id}`): type sniffed (415 if not a video, and the upload is gone), sha256, `video_uploaded`.",
    tags: ["uploads"],
    auth: "bearer",
    params: idParams,
    headers: z.object({
      "tus-resumable": tusResumable,
      "upload-offset": byteCount("Where the body starts."),
      "upload-checksum": z
        .string()
        .regex(
          new RegExp(`^(${checksumAlgorithms}) [A-Za-z0-9+/]{1,98}={0,2}$`),
          `must be \`<${checksumAlgorithms}> <base64 digest>\``,
        )
        .max(200)
        .optional()
        .describe(
          "tus checksum: `sha1 <base64>` or `sha256 <base64>` of this body; a mismatch keeps none of it (460).",
        ),
    }),
    rawBody: { description: "The next bytes of the upload.", contentTypes: [TUS.patchContentType] },
    responses: {
      204: {
        description: "Appended.",
        headers: { ...tusHeaders, ...expires, "Upload-Offset": "Bytes held now." },
      },
      ...tusMissing,
      ...authErrors,
      400: e("Upload-Offset or Upload-Checksum missing or malformed, or a checksum algorithm not served."),
      403: e("A monitor."),
      409: e("`Upload-Offset` is not the upload's offset (HEAD tells it), or another PATCH is writing."),
      ...tusVersion,
      413: e("The body goes past `Upload-Length`."),
      [TUS.checksumMismatchStatus]: e(
        "Checksum mismatch (tus): the body does not match `Upload-Checksum`; none of it was kept.",
      ),
      415: e(
        "Not `application/offset+octet-stream` (a `multipart/form-data` form included); or, at the last byte, not a video.",
      ),
    },
  }),
  tusDelete: route({
    method: "delete",
    path: `${TUS.path}/:id` as const,
    operationId: "tusDelete",
    summary: "tus termination: abandons the upload and removes its bytes.",
    tags: ["uploads"],
    auth: "bearer",
    params: idParams,
    headers: z.object({ "tus-resumable": tusResumable }),
    responses: {
      204: { description: "Removed.", headers: tusHeaders },
      ...tusMissing,
      ...authErrors,
      403: e("A monitor."),
      ...tusVersion,
    },
  }),
} as const;
