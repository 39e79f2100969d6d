import { tmpdir } from "node:os";
import { jetstreamManager } from "@nats-io/jetstream";
import { analysisCatalog } from "@trellis/contracts";
import { egressPolicyOf, ensureStream, logSetupWarnings, openMongo, openRedis, runService } from "@trellis/runtime";
import pkg from "../package.json" with { type: "json" };
import { ensureCascadeConsumers, startUserDeletedCascade, startVideoDeletedCascade } from "./cascade/consumers.ts";
import { analysisConfigSchema } from "./config.ts";
import { analysisEventPublisher, analysisEventsStreamSpec } from "./events.ts";
import { analysisHandlers } from "./handlers/analyses.ts";
import { answerHandlers } from "./handlers/answers.ts";
import { urlAnalysisHandlers } from "./handlers/url-analyses.ts";
import { listenForCancels } from "./jobs/cancel.ts";
import { cleanStaleJobDirs, JOB_DIR_SWEEP_MS } from "./jobs/job-dirs.ts";
import { migrateLegacyQueue } from "./jobs/legacy-queue.ts";
import { openQueue } from "./jobs/queue.ts";
import { closeWorker, startWorker } from "./jobs/worker.ts";
import { openAiQuestionGenerator } from "./questions/openai.ts";
import { questionStep } from "./steps/questions.ts";
import { AnalysesStore } from "./store/analyses.ts";
import { AnswersStore } from "./store/answers.ts";
import { ytDlpVersion } from "./tools/yt-dlp.ts";
import { trackedVideoHandlers } from "./tracked/handlers.ts";
import { TrackedVideosStore } from "./tracked/store.ts";

await runService({
  name: "analysis",
  version: pkg.version,
  catalog: analysisCatalog,
  config: analysisConfigSchema,
  async start({ config, log, nc, shutdown, instance }) {
    // URL analyses need yt-dlp: without it the service does not start (the error says what to do).
    log.info({ ytDlp: await ytDlpVersion(config.YTDLP_PATH) }, "yt-dlp found");
    // Job directories (and orphaned ffmpeg / yt-dlp) of workers of this host that died uncleanly.
    const jobRoot = config.ANALYSIS_TMP_DIR ?? tmpdir();
    const stale = await cleanStaleJobDirs(jobRoot);
    if (stale.removed.length > 0) log.warn(stale, "removed job directories of dead workers");
    // And while running: a worker of this host killed meanwhile (or one that died between making
    // a directory and marking it) leaves one behind until someone looks.
    const sweep = setInterval(() => {
      cleanStaleJobDirs(jobRoot).then(
        (r) => {
          if (r.removed.length > 0) log.warn(r, "removed job directories of dead workers");
        },
        (err: unknown) => log.warn({ err }, "sweeping job directories failed"),
      );
    }, JOB_DIR_SWEEP_MS);
    sweep.unref();
    shutdown.add("job directory sweep", () => clearInterval(sweep));
    const mongo = await openMongo({ shutdown, instance }, config.MONGO_URL, config.MONGO_DB);
    const redis = await openRedis({ shutdown, instance, log }, config.REDIS_URL);
    const store = new AnalysesStore(mongo.db);
    await store.ensureIndexes();
    logSetupWarnings(
      log,
      await ensureStream(nc, { ...analysisEventsStreamSpec(), num_replicas: config.JETSTREAM_REPLICAS }),
    );
    const publish = analysisEventPublisher(nc, log.child({ component: "events" }));

    // An OpenAI-compatible model when configured, the offline generator always last (the fallback).
    const llm =
      config.OPENAI_BASE_URL && config.OPENAI_MODEL
        ? openAiQuestionGenerator({
            baseURL: config.OPENAI_BASE_URL,
            apiKey: config.OPENAI_API_KEY,
            model: config.OPENAI_MODEL,
            timeoutMs: config.OPENAI_TIMEOUT_MS,
          })
        : undefined;
    log.info(
      llm ? { generator: llm.name, host: new URL(config.OPENAI_BASE_URL ?? "").host } : { generator: "offline" },
      "question generator",
    );

    // URL analyses reach only public addresses unless ALLOW_PRIVATE_EGRESS / EGRESS_ALLOW_HOSTS say otherwise.
    const egress = egressPolicyOf(config);
    if (config.ALLOW_PRIVATE_EGRESS) log.warn("ALLOW_PRIVATE_EGRESS=true: URL analyses may reach private networks");

    const queue = openQueue(redis, config);
    shutdown.add("analysis queue", () => queue.close());
    const moved = await migrateLegacyQueue(redis, config, queue);
    if (moved > 0) log.warn({ moved, queue: config.ANALYSIS_QUEUE }, "unfinished jobs moved from the untagged queue");
    // Registered after Redis and MongoDB, so it closes first: in-flight jobs are handed back.
    const worker = startWorker(redis, {
      nc,
      store,
      publish,
      generator: questionStep(llm ? [llm] : []),
      log: log.child({ component: "worker" }),
      config,
      egress,
    });
    shutdown.add("analysis worker", () => closeWorker(worker));
    const cancels = listenForCancels(nc, worker, log.child({ component: "cancel" }));
    shutdown.add("cancel broadcast", () => cancels.unsubscribe());

    const tracked = new TrackedVideosStore(mongo.db);
    const answers = new AnswersStore(mongo.db);
    await answers.ensureIndexes();
    const cancelWaitMs = 3_000;

    // Deleted videos and users take their analyses with them (durable consumers of media's and
    // auth's events); registered after MongoDB and the queue, so they stop before those close.
    for (const kept of await ensureCascadeConsumers(await jetstreamManager(nc), config.JETSTREAM_REPLICAS))
      logSetupWarnings(log, kept);
    const cascadeDeps = { nc, store, queue, publish, cancelWaitMs, answers, replicas: config.JETSTREAM_REPLICAS };
    const cascadeLog = log.child({ component: "cascade" });
    const videoCascade = await startVideoDeletedCascade(nc, cascadeDeps, cascadeLog);
    shutdown.add("video-deleted cascade", () => videoCascade.stop());
    const userCascade = await startUserDeletedCascade(nc, cascadeDeps, cascadeLog);
    shutdown.add("user-deleted cascade", () => userCascade.stop());

    return {
      handlers: {
        ...analysisHandlers({ nc, store, queue, publish, log, cancelWaitMs, egress }),
        ...urlAnalysisHandlers({ nc, store, queue, publish, log, cancelWaitMs, egress }),
        ...trackedVideoHandlers(tracked),
        ...answerHandlers({ store, answers, tracked }),
      },
      checks: { mongo: mongo.ping, redis: async () => void (await redis.ping()) },
    };
  },
});
