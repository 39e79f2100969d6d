import { jetstreamManager } from "@nats-io/jetstream";
import {
  AUTH_EVENTS_STREAM,
  AUTH_EVENTS_SUBJECTS,
  authEvents,
  MEDIA_EVENTS_STREAM,
  MEDIA_EVENTS_SUBJECTS,
  mediaCatalog,
} from "@trellis/contracts";
import {
  type Ensured,
  ensureDurableConsumer,
  ensureStream,
  eventPublisher,
  logSetupWarnings,
  nanos,
  openMongo,
  runService,
  streamExists,
} from "@trellis/runtime";
import pkg from "../package.json" with { type: "json" };
import { mediaConfigSchema } from "./config.ts";
import type { MediaContext } from "./context.ts";
import { MediaOutbox } from "./events/outbox.ts";
import { startUserDeletedCascade, USER_DELETED_CONSUMER } from "./events/user-deleted-consumer.ts";
import { pictureHandlers } from "./handlers/pictures.ts";
import { tusHandlers } from "./handlers/tus.ts";
import { videoHandlers } from "./handlers/videos.ts";
import type { GridFsFiles } from "./store/gridfs.ts";
import { PicturesStore } from "./store/pictures.ts";
import { TusStore } from "./store/tus.ts";
import { UploadsStore } from "./store/uploads.ts";
import { Usage } from "./store/usage.ts";
import { VideosStore } from "./store/videos.ts";
import { TusSweeper, UploadSweeper } from "./upload-sweeper.ts";

await runService({
  name: "media",
  version: pkg.version,
  catalog: mediaCatalog,
  config: mediaConfigSchema,
  async start({ config, log, nc, shutdown, instance }) {
    const mongo = await openMongo({ shutdown, instance }, config.MONGO_URL, config.MONGO_DB);
    const pictures = new PicturesStore(mongo.db);
    const videos = new VideosStore(mongo.db);
    const uploads = new UploadsStore(mongo.db);
    const tus = new TusStore(mongo.db, videos.files);
    await Promise.all([pictures.ensureIndexes(), videos.ensureIndexes(), uploads.ensureIndexes(), tus.ensureIndexes()]);

    const jsm = await jetstreamManager(nc);
    // JetStream keeps some settings of an existing stream or consumer (storage, ack policy...).
    const kept = (ensured: Ensured<unknown>) => logSetupWarnings(log, ensured);
    const replicas = config.JETSTREAM_REPLICAS;
    kept(
      await ensureStream(jsm, { name: MEDIA_EVENTS_STREAM, subjects: [MEDIA_EVENTS_SUBJECTS], num_replicas: replicas }),
    );
    // Auth owns this stream; create it (as auth does) if media happens to start first.
    if (!(await streamExists(jsm, AUTH_EVENTS_STREAM))) {
      kept(
        await ensureStream(jsm, { name: AUTH_EVENTS_STREAM, subjects: [AUTH_EVENTS_SUBJECTS], num_replicas: replicas }),
      );
    }
    kept(
      await ensureDurableConsumer(jsm, AUTH_EVENTS_STREAM, {
        durable_name: USER_DELETED_CONSUMER,
        filter_subject: authEvents.userDeleted.subject,
        // A user with many videos takes a while; the consumer also reports progress.
        ack_wait: nanos(120_000),
      }),
    );

    const events = eventPublisher(nc);
    // Registered after the MongoDB client, so it stops (finishing the user in hand) before it closes.
    const cascade = await startUserDeletedCascade({
      nc,
      replicas,
      pictures,
      videos,
      tus,
      events,
      log: log.child({ component: "cascade" }),
    });
    shutdown.add("user-deleted cascade", () => cascade.stop());

    const usage = new Usage([
      (id) => pictures.originals.bytesWhere("userId", id),
      (id) => pictures.thumbnails.bytesWhere("userId", id),
      (id) => videos.files.bytesWhere("ownerId", id),
    ]);
    const sweeper = new UploadSweeper({
      uploads,
      buckets: new Map<string, GridFsFiles<object>>([
        [pictures.originals.name, pictures.originals as unknown as GridFsFiles<object>],
        [pictures.thumbnails.name, pictures.thumbnails as unknown as GridFsFiles<object>],
        [videos.files.name, videos.files as unknown as GridFsFiles<object>],
      ]),
      staleMs: config.STALE_UPLOAD_MS,
      intervalMs: config.UPLOAD_SWEEP_INTERVAL_MS,
      log: log.child({ component: "upload-sweeper" }),
    });
    sweeper.start();
    shutdown.add("upload sweeper", () => sweeper.stop());
    const tusSweeper = new TusSweeper({
      tus,
      intervalMs: config.UPLOAD_SWEEP_INTERVAL_MS,
      log: log.child({ component: "tus-sweeper" }),
    });
    tusSweeper.start();
    shutdown.add("tus sweeper", () => tusSweeper.stop());

    const outbox = new MediaOutbox({
      db: mongo.db,
      videos,
      events,
      log: log.child({ component: "outbox" }),
      retryAfterMs: config.OUTBOX_RETRY_MS,
      sweepIntervalMs: config.OUTBOX_SWEEP_INTERVAL_MS,
    });
    await outbox.outbox.ensureIndexes();
    outbox.outbox.start();
    shutdown.add("event outbox", () => outbox.outbox.stop());

    const t: MediaContext = { nc, pictures, videos, events, outbox, usage, uploads, tus, log, config };
    return {
      handlers: { ...pictureHandlers(t), ...videoHandlers(t), ...tusHandlers(t) },
      checks: { mongo: mongo.ping },
    };
  },
});
