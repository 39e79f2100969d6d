import { homedir } from "node:os";
import { join } from "node:path";
import {
  baseConfigSchema,
  egressConfigSchema,
  env,
  mongoConfigSchema,
  redisSentinelConfigSchema,
} from "@trellis/runtime";
import { z } from "zod";

export const analysisConfigSchema = baseConfigSchema
  .extend(mongoConfigSchema.shape)
  .extend(redisSentinelConfigSchema.shape)
  // ALLOW_PRIVATE_EGRESS, EGRESS_ALLOW_HOSTS, EGRESS_DNS_SERVERS: what URL analyses may reach.
  .extend(egressConfigSchema.shape)
  .extend({
    MONGO_DB: mongoConfigSchema.shape.MONGO_DB.default("trellis_analysis"),
    /** Redis for the BullMQ queue (`redis` or `rediss` URL). */
    REDIS_URL: env.url(["redis", "rediss"]).default("redis://127.0.0.1:6379"),
    /** BullMQ key prefix (tests give each file its own, so no two files share a queue). */
    REDIS_KEY_PREFIX: z
      .string()
      .min(1)
      .max(100)
      .default("trellis:analysis:")
      .transform((v) => v.replace(/:+$/, "")),
    /**
     * The BullMQ queue. Hash-tagged (`{analysis}`): every key of the queue hashes to one slot, so
     * it also works on Redis Cluster. A queue of the old untagged name is migrated at start
     * (jobs/legacy-queue.ts).
     */
    ANALYSIS_QUEUE: z
      .string()
      .regex(
        /^(\{[A-Za-z0-9_-]{1,64}\}|[A-Za-z0-9_-]{1,64})$/,
        "must be 1-64 letters, digits, _ or -, optionally in {}",
      )
      .default("{analysis}"),
    /** Jobs one instance runs at once. */
    WORKER_CONCURRENCY: env.int(1, 64).default(2),
    /** Per-job deadline: past it the job fails with `deadline_exceeded`, never retried. */
    JOB_TIMEOUT_MS: env.int(1_000, 24 * 3_600_000).default(30 * 60_000),
    /** Attempts for transient failures (media unavailable), with exponential backoff from JOB_BACKOFF_MS. */
    JOB_ATTEMPTS: env.int(1, 20).default(3),
    /** First retry delay of a transient failure, doubled on each attempt. */
    JOB_BACKOFF_MS: env.int(10, 600_000).default(2_000),
    /**
     * A job's lock (renewed at half this while it runs): when a worker dies (SIGKILL) its job is
     * picked up by another worker once the lock has expired and a stalled-job check has run.
     */
    JOB_LOCK_MS: env.int(1_000, 600_000).default(30_000),
    /** How often each worker checks for jobs whose lock expired (BullMQ's stalled-job check). */
    JOB_STALLED_INTERVAL_MS: env.int(500, 600_000).default(30_000),
    /** At most one progress event per job per this many ms (a stage change always goes out). */
    PROGRESS_INTERVAL_MS: env.int(0, 60_000).default(250),
    /** The ffmpeg that extracts keyframes. */
    FFMPEG_PATH: z.string().min(1).default("ffmpeg"),
    /**
     * ffmpeg `-readrate`: read the input at this multiple of its real-time speed (unset: as fast as
     * it can). Bounds the CPU one keyframe extraction takes on a shared machine.
     */
    FFMPEG_READ_RATE: z.coerce.number().positive().max(1_000).optional(),
    /**
     * yt-dlp, which fetches the captions and media of URL analyses: the one `scripts/install-deps.sh`
     * installs (`$TRELLIS_CACHE/bin/yt-dlp`) unless set. Checked at start-up (the service does not
     * start without it).
     * @default `$TRELLIS_CACHE/bin/yt-dlp` (`~/.cache/trellis/bin/yt-dlp`)
     */
    YTDLP_PATH: z
      .string()
      .min(1)
      .default(() => join(process.env.TRELLIS_CACHE ?? join(homedir(), ".cache", "trellis"), "bin", "yt-dlp")),
    /** Longest one yt-dlp run (page, captions or the media download) may take; then it is killed (a transient failure). */
    YTDLP_TIMEOUT_MS: env.int(1_000, 24 * 3_600_000).default(10 * 60_000),
    /** Largest media file a URL analysis downloads (bytes); larger → the analysis fails, not retried. */
    YTDLP_MAX_BYTES: env.int(1_024, 64 * 1024 ** 3).default(2 * 1024 ** 3),
    /** Where per-job temporary directories are made (the system's temp dir by default). */
    ANALYSIS_TMP_DIR: z.string().min(1).optional(),
    /**
     * An OpenAI-compatible API (OpenAI, Ollama `http://host:11434/v1`, llama.cpp server, vLLM): when
     * set, questions come from its chat completions with a JSON-schema response format, the offline
     * generator being the fallback. Unset: offline only.
     */
    OPENAI_BASE_URL: env.url(["http", "https"]).optional(),
    /** Bearer key for OPENAI_BASE_URL (optional: local servers need none). Never logged. */
    OPENAI_API_KEY: z.string().min(1).optional(),
    /** The model to ask (required with OPENAI_BASE_URL), e.g. `gpt-4o-mini`, `llama3.1:8b`. */
    OPENAI_MODEL: z.string().min(1).max(200).optional(),
    /** Deadline of one chat-completions request; past it the offline generator writes the questions. */
    OPENAI_TIMEOUT_MS: env.int(100, 30 * 60_000).default(120_000),
  })
  .superRefine((c, ctx) => {
    if (c.OPENAI_BASE_URL && !c.OPENAI_MODEL) {
      ctx.addIssue({ code: "custom", path: ["OPENAI_MODEL"], message: "is required when OPENAI_BASE_URL is set" });
    }
    if (!c.OPENAI_BASE_URL && (c.OPENAI_MODEL || c.OPENAI_API_KEY)) {
      ctx.addIssue({
        code: "custom",
        path: ["OPENAI_BASE_URL"],
        message:
          "is required when OPENAI_MODEL or OPENAI_API_KEY is set (the API's root, e.g. https://api.openai.com/v1)",
      });
    }
  });
export type AnalysisConfig = z.output<typeof analysisConfigSchema>;
