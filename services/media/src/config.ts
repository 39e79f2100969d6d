import { baseConfigSchema, env, mongoConfigSchema, outboxConfigSchema } from "@trellis/runtime";
import { z } from "zod";

const MiB = 1024 * 1024;

export const mediaConfigSchema = baseConfigSchema
  .extend(mongoConfigSchema.shape)
  .extend(outboxConfigSchema.shape)
  .extend({
    MONGO_DB: mongoConfigSchema.shape.MONGO_DB.default("trellis_media"),
    /**
     * Largest picture, in bytes (default 10 MiB; 413 above). A picture is held in memory while its
     * thumbnail is made, so this also bounds the memory one upload takes.
     */
    PICTURE_MAX_BYTES: env.int(1_024, 256 * MiB).default(10 * MiB),
    /** Largest video, in bytes (default 8 GiB; 413 above). Videos stream: memory does not grow with them. */
    VIDEO_MAX_BYTES: env.int(1_024, Number.MAX_SAFE_INTEGER).default(8 * 1024 * MiB),
    /** Bytes each user may keep (pictures, thumbnails and videos together); 0 (the default): no quota. */
    MEDIA_QUOTA_BYTES: env.int(0, Number.MAX_SAFE_INTEGER).default(0),
    /**
     * An upload not heard of for this long (its media process died mid-way) is abandoned: its chunks
     * are removed. Uploads in progress touch their record every few seconds.
     */
    STALE_UPLOAD_MS: env.int(1_000, 86_400_000).default(600_000),
    /**
     * How long a resumable (tus) upload is kept without a PATCH (`Upload-Expires`); then it and its
     * chunks are removed. Default 24 h.
     */
    TUS_EXPIRY_MS: env.int(1_000, 30 * 86_400_000).default(86_400_000),
    /** How often each instance looks for abandoned uploads (and expired tus uploads). */
    UPLOAD_SWEEP_INTERVAL_MS: env.int(100, 3_600_000).default(60_000),
    /** The ffprobe to read duration, dimensions and codec with; `off`, or not installed: those are null. */
    FFPROBE_PATH: z.string().min(1).default("ffprobe"),
    /**
     * How long ffprobe may take after the last byte of an upload before it is given up on (it has
     * read the headers long before; keep it under the gateway's REQUEST_TIMEOUT_MS).
     */
    FFPROBE_TIMEOUT_MS: env.int(100, 120_000).default(2_000),
  });

export type MediaConfig = z.output<typeof mediaConfigSchema>;
