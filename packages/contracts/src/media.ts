import { z } from "zod";
import { endpoint, streamEndpoint, uploadEndpoint } from "./endpoint.ts";
import { healthEndpoint } from "./health.ts";
import { PageCursor, Principal, UserId } from "./identity.ts";
import { subject } from "./services.ts";
import { TusChecksumAlgorithm } from "./tus.ts";

const s = (name: string) => subject("media", 1, name);

/** Pictures and videos are identified by UUIDs, as everything in seed 000. */
export const MediaId = z.uuid();
export type MediaId = z.infer<typeof MediaId>;

/** Image types media accepts, decided from the bytes (never from a name or a declared type). */
export const PICTURE_TYPES = ["image/jpeg", "image/png", "image/webp", "image/gif", "image/avif"] as const;
export const PictureType = z.enum(PICTURE_TYPES);
export type PictureType = z.infer<typeof PictureType>;

/** Video containers media accepts, decided from the bytes. */
export const VIDEO_TYPES = [
  "video/mp4",
  "video/x-m4v",
  "video/quicktime",
  "video/webm",
  "video/matroska",
  "video/ogg",
  "video/vnd.avi",
  "video/mp2t",
  "video/x-flv",
  "video/3gpp",
  "video/3gpp2",
  "video/mpeg",
] as const;
export const VideoType = z.enum(VIDEO_TYPES);
export type VideoType = z.infer<typeof VideoType>;

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, "must be 64 lowercase hexadecimal characters");

/** Seed 000 `insert_picture` / `get_pictures`: a user's (training) picture. */
export const Picture = z.object({
  id: MediaId,
  userId: UserId,
  type: PictureType,
  size: z.number().int().nonnegative().describe("Bytes of the original."),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  sha256: Sha256.describe("Of the original's bytes; its strong ETag."),
  createdAt: z.iso.datetime(),
});
export type Picture = z.infer<typeof Picture>;

/** Seed 000 `insert_video` / `get_video_stream`: a video with its owner, filename and transcript. */
export const Video = z.object({
  id: MediaId,
  ownerId: UserId,
  filename: z.string(),
  type: VideoType,
  size: z.number().int().nonnegative(),
  sha256: Sha256.describe("Of the whole file, computed while it was uploaded; its strong ETag."),
  durationMs: z.number().int().nonnegative().nullable().describe("From ffprobe; null when it could not tell."),
  width: z.number().int().positive().nullable(),
  height: z.number().int().positive().nullable(),
  codec: z.string().nullable().describe("The first video stream's codec (ffprobe's name, e.g. h264)."),
  createdAt: z.iso.datetime(),
  hasTranscript: z.boolean(),
});
export type Video = z.infer<typeof Video>;

/** How a transcript was written: plain text (no timing), WebVTT or SubRip. */
export const TranscriptFormat = z.enum(["text", "vtt", "srt"]);
export type TranscriptFormat = z.infer<typeof TranscriptFormat>;

/** The transcript format a Content-Type names (parameters ignored), or null for one that is no transcript. */
export function transcriptFormatOf(mediaType: string | undefined): TranscriptFormat | null {
  switch (mediaType?.split(";")[0]?.trim().toLowerCase()) {
    case "text/plain":
      return "text";
    case "text/vtt":
      return "vtt";
    case "application/x-subrip":
    case "application/srt":
    case "text/srt":
      return "srt";
    default:
      return null;
  }
}
/** The largest transcript kept, in characters. */
export const MAX_TRANSCRIPT_CHARS = 1_000_000;
export const TranscriptText = z.string().min(1, "must not be empty").max(MAX_TRANSCRIPT_CHARS);

/** One timed segment of a transcript (WebVTT / SRT cue), times in ms from the start, its text plain (`plainCueText`). */
export const TranscriptSegment = z.object({
  start: z.number().int().nonnegative(),
  end: z.number().int().nonnegative(),
  text: z
    .string()
    .describe(
      "The cue's text as plain text: markup (<i>, <v Speaker>, <font>, {\\an8}, inline timestamps) removed, character references (&amp;, &nbsp;, &#62;) decoded, line breaks kept.",
    ),
});
export type TranscriptSegment = z.infer<typeof TranscriptSegment>;

/** A video's transcript: as written (`text`, markup and all), and its timed segments in plain text (none for plain text). */
export const Transcript = z.object({
  format: TranscriptFormat,
  text: z.string(),
  segments: z.array(TranscriptSegment),
  updatedAt: z.iso.datetime(),
});
export type Transcript = z.infer<typeof Transcript>;

/** A page of a listing, newest first; `next` continues it (null on the last page). */
export const PicturesPage = z.object({ items: z.array(Picture), next: z.string().nullable() });
export type PicturesPage = z.infer<typeof PicturesPage>;
export const VideosPage = z.object({ items: z.array(Video), next: z.string().nullable() });
export type VideosPage = z.infer<typeof VideosPage>;

/** The largest filename kept (the rest of a longer one is cut). */
export const MAX_FILENAME_LENGTH = 255;
export const Filename = z
  .string()
  .trim()
  .min(1, "must not be empty")
  .max(MAX_FILENAME_LENGTH, `must be at most ${MAX_FILENAME_LENGTH} characters`)
  .refine(
    (v) => ![...v].some((c) => c.charCodeAt(0) < 0x20 || c === "\u007f" || c === "/" || c === "\\"),
    "must not contain control characters or slashes",
  )
  // The same rules for the document: no control characters or slashes, not blank.
  .meta({
    pattern:
      "^[^\\u0000-\\u001f\\u007f/\\\\]*[^\\u0000-\\u0020\\u007f/\\\\\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff][^\\u0000-\\u001f\\u007f/\\\\]*$",
  });

/** A listing's cursor, as the previous page's `next` gave it. */
const Cursor = PageCursor;

/**
 * What a conditional, possibly ranged read of stored bytes asks for: the HTTP request headers
 * that decide it, passed through as they came (media decides, next to the data: RFC 9110).
 */
export const ReadConditions = z.object({
  range: z.string().max(1_000).optional(),
  ifRange: z.string().max(1_000).optional(),
  ifNoneMatch: z.string().max(4_000).optional(),
  /** HEAD: decide and describe, send no bytes. */
  headOnly: z.boolean().default(false),
});
export type ReadConditions = z.input<typeof ReadConditions>;

/**
 * How a conditional, possibly ranged read is answered, decided by media before the first byte (RFC
 * 9110's rules, no HTTP status: the gateway maps each to one): `full` (all of it), `partial` (the
 * `range`), `not_modified` (the client's copy is current: no bytes) or `unsatisfiable` (the range
 * cannot be satisfied: no bytes).
 */
export const ReadOutcome = z.enum(["full", "partial", "not_modified", "unsatisfiable"]);
export type ReadOutcome = z.infer<typeof ReadOutcome>;

/** What a read sends, decided before the first byte. */
export const ContentMeta = z.object({
  outcome: ReadOutcome,
  contentType: z.string(),
  /** Size of the whole stored content. */
  size: z.number().int().nonnegative(),
  /** The bytes that follow, inclusive; null when none do. */
  range: z.object({ start: z.number().int().nonnegative(), end: z.number().int().nonnegative() }).nullable(),
  /** Strong ETag, quoted (`"<sha256>"`). */
  etag: z.string(),
  lastModified: z.iso.datetime(),
});
export type ContentMeta = z.infer<typeof ContentMeta>;

export const VideoContentMeta = ContentMeta.extend({ video: Video });
export type VideoContentMeta = z.infer<typeof VideoContentMeta>;

/**
 * A resumable (tus 1.0) upload of a video: its state as media keeps it. `offset` counts the bytes
 * media holds durably; once it reaches `length` the upload is a video with the same id.
 */
export const TusUpload = z.object({
  id: MediaId,
  ownerId: UserId,
  filename: z.string(),
  length: z.number().int().nonnegative(),
  offset: z.number().int().nonnegative(),
  expiresAt: z.iso.datetime(),
});
export type TusUpload = z.infer<typeof TusUpload>;

const Actor = { actor: Principal };
/** Listing limits: the gateway passes `limit` through. */
const Limit = z.number().int().min(1).max(500).default(50);

export const mediaCatalog = {
  health: healthEndpoint("media"),

  // --- pictures (seed 000 PictureDatabase) ---
  uploadPicture: uploadEndpoint({
    subject: s("pictures.upload"),
    request: z.object({
      ...Actor,
      userId: UserId,
      /** The request's Content-Length when it had one: too large is refused before any byte is read. */
      declaredSize: z.number().int().nonnegative().optional(),
    }),
    reply: Picture,
    description:
      "Stores a picture for a user (self or admin) from the bytes that follow: its type decided from the bytes, a thumbnail made once.",
  }),
  listPictures: endpoint({
    subject: s("pictures.list"),
    request: z.object({ ...Actor, userId: UserId, limit: Limit, cursor: Cursor.optional() }),
    reply: PicturesPage,
    description: "A user's pictures, newest first, a page at a time (self or admin).",
  }),
  getPicture: endpoint({
    subject: s("pictures.get"),
    request: z.object({ ...Actor, pictureId: MediaId }),
    reply: Picture,
    description: "A picture's metadata (its owner or an admin; not_found for anyone else).",
  }),
  readPicture: streamEndpoint({
    subject: s("pictures.read"),
    request: z.object({
      ...Actor,
      pictureId: MediaId,
      variant: z.enum(["original", "thumbnail"]),
      ...ReadConditions.shape,
    }),
    meta: ContentMeta,
    contentType: "application/octet-stream",
    description: "A picture's bytes or its thumbnail's (WebP), conditional on If-None-Match (owner or admin).",
  }),
  deletePicture: endpoint({
    subject: s("pictures.delete"),
    request: z.object({ ...Actor, pictureId: MediaId }),
    reply: z.object({}),
    description: "Deletes a picture and its thumbnail (owner or admin).",
  }),
  pictureBelongsTo: endpoint({
    subject: s("pictures.belongs_to"),
    request: z.object({ pictureId: z.string().max(100), userId: UserId }),
    reply: z.object({ belongs: z.boolean() }),
    description:
      "Whether a picture exists and belongs to a user: for auth, linking a face login to the picture that proved it. Service to service.",
  }),

  // --- videos (seed 000 VideoDatabase) ---
  uploadVideo: uploadEndpoint({
    subject: s("videos.upload"),
    request: z.object({
      ...Actor,
      /** The owner: the actor unless an admin names another user. */
      ownerId: UserId.optional(),
      filename: Filename,
      /** Its format is recognised from the text (a WEBVTT header, SRT's numbered timed cues, else plain text). */
      transcript: TranscriptText.optional(),
      declaredSize: z.number().int().nonnegative().optional(),
    }),
    reply: Video,
    description:
      "Stores a video from the bytes that follow (self, or an admin for any user): type sniffed, sha256 computed while streaming, duration and dimensions from ffprobe.",
  }),
  listVideos: endpoint({
    subject: s("videos.list"),
    request: z.object({ ...Actor, ownerId: UserId.optional(), limit: Limit, cursor: Cursor.optional() }),
    reply: VideosPage,
    description: "A user's videos, newest first, a page at a time (self or admin; the actor's own without ownerId).",
  }),
  getVideo: endpoint({
    subject: s("videos.get"),
    request: z.object({ ...Actor, videoId: MediaId }),
    reply: Video.extend({ transcript: z.string().nullable() }),
    description:
      "A video's metadata with its transcript (seed 000's [user_uuid, filename, video_transcript]); owner or admin.",
  }),
  readVideo: streamEndpoint({
    subject: s("videos.read"),
    request: z.object({
      ...Actor,
      videoId: MediaId,
      /**
       * Read as a learner of this analysis (an analysis id; not imported from analysis.ts, which
       * imports this module): allowed when the analysis service says the actor may answer it and
       * it is of this video.
       */
      analysisId: z.uuid().optional(),
      ...ReadConditions.shape,
    }),
    meta: VideoContentMeta,
    contentType: "application/octet-stream",
    description:
      "A video's bytes, all or one range (RFC 9110 Range, If-Range, If-None-Match), read from the range's first chunk on (owner or admin; with `analysisId`, also a learner of that analysis of this video).",
  }),
  setTranscript: endpoint({
    subject: s("videos.transcript.set"),
    request: z.object({
      ...Actor,
      videoId: MediaId,
      /** Absent: recognised from the text, as an upload's transcript is (a form's transcript after its file). */
      format: TranscriptFormat.optional(),
      text: TranscriptText,
    }),
    reply: Video,
    description:
      "Replaces a video's transcript (owner or admin): a WebVTT or SRT file is validated (invalid: invalid_argument naming the line) and parsed into segments; publishes transcript_updated.",
  }),
  getTranscript: endpoint({
    subject: s("videos.transcript.get"),
    request: z.object({
      ...Actor,
      videoId: MediaId,
      /** Also render it as WebVTT (SRT converted; plain text as one cue over the video). */
      webvtt: z.boolean().default(false),
    }),
    reply: Transcript.extend({ webvtt: z.string().optional() }),
    description:
      "A video's transcript with its timed segments, and as WebVTT when asked (owner or admin); not_found when it has none.",
  }),
  deleteVideo: endpoint({
    subject: s("videos.delete"),
    request: z.object({ ...Actor, videoId: MediaId }),
    reply: z.object({}),
    description: "Deletes a video and publishes video_deleted (owner or admin).",
  }),

  // --- resumable uploads (tus 1.0; the gateway speaks HTTP, media keeps the bytes) ---
  tusLimits: endpoint({
    subject: s("tus.limits"),
    request: z.object({}),
    reply: z.object({ maxBytes: z.number().int().positive() }),
    description: "The largest upload media accepts (tus `Tus-Max-Size`).",
  }),
  createTusUpload: endpoint({
    subject: s("tus.create"),
    request: z.object({
      ...Actor,
      length: z.number().int().nonnegative(),
      filename: Filename,
      transcript: TranscriptText.optional(),
    }),
    reply: TusUpload,
    description:
      "Starts a resumable video upload of `length` bytes (tus creation): size limit and quota checked now, the transcript validated.",
  }),
  getTusUpload: endpoint({
    subject: s("tus.get"),
    request: z.object({ ...Actor, uploadId: MediaId }),
    reply: TusUpload,
    description:
      "A resumable upload's state (tus HEAD): owner or admin; not_found for anyone else, an unknown, expired or finished upload.",
  }),
  appendTusUpload: uploadEndpoint({
    subject: s("tus.append"),
    request: z.object({
      ...Actor,
      uploadId: MediaId,
      /** Where the client says its bytes start: must be the upload's offset (conflict otherwise). */
      offset: z.number().int().nonnegative(),
      declaredSize: z.number().int().nonnegative().optional(),
      /** tus checksum: the body's digest; on a mismatch (or a cut body) none of the body is kept. */
      checksum: z
        .object({
          algorithm: TusChecksumAlgorithm,
          digest: z
            .string()
            .regex(/^[A-Za-z0-9+/]+={0,2}$/)
            .max(100),
        })
        .optional(),
    }),
    reply: TusUpload.extend({
      video: Video.nullable(),
      /** The body did not match its checksum: nothing of it was kept (tus 460). */
      checksumMismatch: z.boolean().default(false),
    }),
    description:
      "Appends the bytes that follow at `offset` (tus PATCH), durably as they come; what arrived before a cut is kept. At the last byte the upload becomes a video (type sniffed, sha256, video_uploaded).",
  }),
  deleteTusUpload: endpoint({
    subject: s("tus.delete"),
    request: z.object({ ...Actor, uploadId: MediaId }),
    reply: z.object({}),
    description: "Abandons a resumable upload and removes its chunks (tus termination).",
  }),
} as const;

/** Durable events of the media service, captured by the MEDIA_EVENTS JetStream stream. */
export const MEDIA_EVENTS_STREAM = "MEDIA_EVENTS";
export const MEDIA_EVENTS_SUBJECTS = s("events.>");
export const mediaEvents = {
  videoUploaded: {
    subject: s("events.video_uploaded"),
    schema: z.object({ video: Video, at: z.iso.datetime() }),
  },
  transcriptUpdated: {
    subject: s("events.transcript_updated"),
    schema: z.object({ videoId: MediaId, ownerId: UserId, format: TranscriptFormat, at: z.iso.datetime() }),
  },
  videoDeleted: {
    subject: s("events.video_deleted"),
    schema: z.object({
      videoId: MediaId,
      ownerId: UserId,
      reason: z.enum(["deleted", "user_deleted"]),
      at: z.iso.datetime(),
    }),
  },
} as const;
export type VideoUploaded = z.infer<typeof mediaEvents.videoUploaded.schema>;
export type VideoDeleted = z.infer<typeof mediaEvents.videoDeleted.schema>;
export type TranscriptUpdated = z.infer<typeof mediaEvents.transcriptUpdated.schema>;
