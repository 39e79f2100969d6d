import { randomBytes } from "node:crypto";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import {
  AUTH_EVENTS_STREAM,
  AUTH_EVENTS_SUBJECTS,
  alarmRulesChanged,
  authEvents,
  catalogs,
  deviceSubjects,
  READINGS_CONSUMER,
  READINGS_STREAM,
  TELEMETRY_EVENTS_STREAM,
  TELEMETRY_EVENTS_SUBJECTS,
  WEBHOOKS_CONSUMER,
  WEBHOOKS_STREAM,
} from "@trellis/contracts";
import {
  type Ensured,
  egressPolicyOf,
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
import { COMMAND_LEASE_MS, CommandDispatcher } from "./commands/dispatcher.ts";
import { telemetryConfigSchema } from "./config.ts";
import type { TelemetryContext } from "./context.ts";
import { alarmHandlers } from "./handlers/alarms.ts";
import { commandHandlers } from "./handlers/commands.ts";
import { compatV1Handlers } from "./handlers/compat-v1.ts";
import { monitorHandlers } from "./handlers/monitors.ts";
import { presenceHandlers } from "./handlers/presence.ts";
import { readingHandlers } from "./handlers/readings.ts";
import { AlarmEvaluator } from "./ingest/alarm-evaluator.ts";
import { AlarmNotifier } from "./ingest/alarm-notifier.ts";
import { LivePublisher } from "./ingest/live-publisher.ts";
import { liveStreamSpec } from "./ingest/live-stream.ts";
import { ReadingsIngest } from "./ingest/readings-consumer.ts";
import { readingsStreamSpec } from "./ingest/readings-stream.ts";
import { StoredWatch } from "./ingest/stored-watch.ts";
import { startUserDeletedCascade, USER_DELETED_CONSUMER } from "./ingest/user-deleted-consumer.ts";
import { startWebhookDelivery, webhooksStreamSpec } from "./ingest/webhook-consumer.ts";
import { migrateReadings } from "./migrations/readings-to-buckets.ts";
import { MonitorData } from "./monitor-data.ts";
import { OfflineAlarms } from "./presence/offline-alarms.ts";
import { PresenceTracker } from "./presence/tracker.ts";
import { RetentionJob } from "./retention/job.ts";
import { AlarmRulesStore } from "./store/alarm-rules.ts";
import { AlarmsStore } from "./store/alarms.ts";
import { CommandsStore } from "./store/commands.ts";
import { MonitorsStore } from "./store/monitors.ts";
import { openReadingsStore } from "./store/open-readings.ts";
import { PresenceStore } from "./store/presence.ts";
import { ReadingDocsStore } from "./store/reading-docs.ts";
import { RollupTiersStore } from "./store/rollup-tiers.ts";
import { RollupsStore } from "./store/rollups.ts";
import { WebhooksStore } from "./store/webhooks.ts";

await runService({
  name: "telemetry",
  version: pkg.version,
  catalog: catalogs.telemetry,
  config: telemetryConfigSchema,
  async start({ config, log, nc, shutdown, instance }) {
    const mongo = await openMongo({ shutdown, instance }, config.MONGO_URL, config.MONGO_DB);
    const monitors = new MonitorsStore(mongo.db);
    const readings = await openReadingsStore(mongo.db, config.READINGS_LAYOUT);
    log.info({ layout: readings.layout }, "readings layout");
    const rollups = new RollupsStore(mongo.db);
    const presence = new PresenceStore(mongo.db);
    const tiers = new RollupTiersStore(mongo.db);
    const commands = new CommandsStore(mongo.db);
    const alarmRules = new AlarmRulesStore(mongo.db);
    const alarms = new AlarmsStore(mongo.db);
    const webhooks = new WebhooksStore(mongo.db);
    await Promise.all(
      [monitors, readings, rollups, presence, tiers, commands, alarmRules, alarms].map((s) => s.ensureIndexes()),
    );
    // Readings an earlier version stored one document each move to the current layout before
    // anything reads or writes them (a no-op query once done).
    await migrateReadings({
      source: new ReadingDocsStore(mongo.db),
      target: readings,
      lease: { take: (n, h, ms) => tiers.takeLease(n, h, ms), release: (n, h) => tiers.releaseLease(n, h) },
      instance: `${instance}.${randomBytes(4).toString("hex")}`,
      log,
      batchSize: config.READINGS_MIGRATION_BATCH,
    });
    const rollupDays = {
      minute: config.ROLLUP_MINUTE_RETENTION_DAYS,
      hour: config.ROLLUP_HOUR_RETENTION_DAYS,
      day: config.ROLLUP_DAY_RETENTION_DAYS,
    };

    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    // JetStream keeps some settings of an existing stream or consumer (storage, ack policy...).
    const kept = (ensured: Ensured<unknown>) => logSetupWarnings(log, ensured);
    const replicas = config.JETSTREAM_REPLICAS;
    kept(await ensureStream(jsm, { ...readingsStreamSpec(config.READINGS_MAX_AGE_DAYS), num_replicas: replicas }));
    kept(
      await ensureStream(jsm, {
        name: TELEMETRY_EVENTS_STREAM,
        subjects: [TELEMETRY_EVENTS_SUBJECTS],
        num_replicas: replicas,
      }),
    );
    kept(await ensureStream(jsm, { ...liveStreamSpec(), num_replicas: replicas }));
    // Auth owns this stream; create it (as auth does) if telemetry happens to start first.
    if (!(await streamExists(jsm, AUTH_EVENTS_STREAM))) {
      kept(
        await ensureStream(jsm, { name: AUTH_EVENTS_STREAM, subjects: [AUTH_EVENTS_SUBJECTS], num_replicas: replicas }),
      );
    }
    kept(
      await ensureDurableConsumer(jsm, READINGS_STREAM, {
        durable_name: READINGS_CONSUMER,
        filter_subject: deviceSubjects.readingsWildcard,
        ack_wait: nanos(30_000),
        // The round in hand, a full round buffered and one pull in flight.
        max_ack_pending: Math.max(1_000, config.INGEST_ROUND_SIZE * 3),
      }),
    );
    // Webhook notifications: a work queue (each job removed once acked), deduplicated on the event id.
    kept(await ensureStream(jsm, { ...webhooksStreamSpec(), num_replicas: replicas }));
    // Webhooks reach only public addresses unless ALLOW_PRIVATE_EGRESS / EGRESS_ALLOW_HOSTS say otherwise.
    if (config.WEBHOOK_ALLOW_PRIVATE !== undefined) {
      log.warn("WEBHOOK_ALLOW_PRIVATE is deprecated: use ALLOW_PRIVATE_EGRESS (the README's Egress section)");
    }
    const egress = egressPolicyOf({
      ...config,
      ALLOW_PRIVATE_EGRESS: config.ALLOW_PRIVATE_EGRESS || config.WEBHOOK_ALLOW_PRIVATE === true,
    });
    if (egress.allowPrivate) log.warn("ALLOW_PRIVATE_EGRESS=true: webhooks may reach private networks");
    kept(
      await ensureDurableConsumer(jsm, WEBHOOKS_STREAM, {
        durable_name: WEBHOOKS_CONSUMER,
        ack_wait: nanos(config.WEBHOOK_TIMEOUT_MS + 20_000),
        max_deliver: config.WEBHOOK_MAX_DELIVER,
      }),
    );
    kept(
      await ensureDurableConsumer(jsm, AUTH_EVENTS_STREAM, {
        durable_name: USER_DELETED_CONSUMER,
        filter_subject: authEvents.userDeleted.subject,
        ack_wait: nanos(60_000),
      }),
    );

    const events = eventPublisher(nc);
    const stored = new StoredWatch(nc, jsm, log.child({ component: "stored-watch" }));
    await stored.start();
    shutdown.add("stored watch", () => stored.stop());
    const notifier = new AlarmNotifier({
      js,
      events,
      alarms,
      rules: alarmRules,
      log: log.child({ component: "alarms" }),
      retryAfterMs: config.OUTBOX_RETRY_MS,
      sweepIntervalMs: config.OUTBOX_SWEEP_INTERVAL_MS,
    });
    await notifier.outbox.ensureIndexes();
    const evaluator = new AlarmEvaluator({
      store: alarmRules,
      notifier,
      log: log.child({ component: "alarms" }),
      // Unique per process: it tells a conditional write's winner (instances may share INSTANCE_ID).
      instance: `${instance}.${randomBytes(4).toString("hex")}`,
      cacheTtlMs: config.ALARM_RULES_CACHE_MS,
      flushMs: config.ALARM_STATE_FLUSH_MS,
    });
    // Every instance hears every rule change (no queue group) and drops that monitor's cached rules.
    const ruleChanges = nc.subscribe(alarmRulesChanged.subject, {
      callback: (err, msg) => {
        if (err) return;
        const parsed = alarmRulesChanged.schema.safeParse(msg.json());
        if (parsed.success) evaluator.invalidate(parsed.data.monitorId);
      },
    });
    // Notices missed while disconnected: start over from the database.
    void (async () => {
      for await (const s of nc.status()) if (s.type === "reconnect") evaluator.invalidateAll();
    })();
    notifier.outbox.start();
    shutdown.add("alarm notifications", async () => {
      ruleChanges.unsubscribe();
      await notifier.outbox.stop();
    });
    const alarmData = {
      async removeMonitor(monitorId: string) {
        await alarmRules.deleteOfMonitor(monitorId);
        await alarms.deleteForMonitor(monitorId);
        nc.publish(alarmRulesChanged.subject, JSON.stringify({ monitorId }));
      },
    };
    const live = new LivePublisher(js, log.child({ component: "live" }));
    const monitorData = new MonitorData({ monitors, readings, rollups, tiers, jsm, events, commands, alarmData });
    const offlineAlarms = new OfflineAlarms(alarms, notifier, log.child({ component: "alarms" }));
    const tracker = new PresenceTracker({
      store: presence,
      events,
      js,
      log: log.child({ component: "presence" }),
      offlineAfterSeconds: config.OFFLINE_AFTER_SECONDS,
      onChange: (change) => offlineAlarms.onPresence(change),
      sweepIntervalMs: config.PRESENCE_SWEEP_INTERVAL_MS,
      outboxRetryMs: config.OUTBOX_RETRY_MS,
      outboxSweepIntervalMs: config.OUTBOX_SWEEP_INTERVAL_MS,
    });
    // The ingest consumer's ack floor, refreshed every 10 s (a stale one is lower: still safe),
    // for pruning the monitors' lists of counted sequences.
    let ackFloor = 0;
    const refreshFloor = () =>
      jsm.consumers.info(READINGS_STREAM, READINGS_CONSUMER).then(
        (info) => {
          ackFloor = Math.max(ackFloor, info.ack_floor.stream_seq);
        },
        () => undefined,
      );
    const floorTimer = setInterval(refreshFloor, 10_000);
    floorTimer.unref();
    shutdown.add("ack floor", () => clearInterval(floorTimer));
    await tracker.outbox.ensureIndexes();
    const ingest = new ReadingsIngest({
      ackFloor: () => ackFloor,
      js,
      monitors,
      readings,
      rollups,
      events,
      log: log.child({ component: "ingest" }),
      batchSize: config.INGEST_BATCH_SIZE,
      roundSize: Math.max(config.INGEST_ROUND_SIZE, config.INGEST_BATCH_SIZE),
      maxWaitMs: config.INGEST_MAX_WAIT_MS,
      alarms: evaluator,
      onRoundDone: (seqs, rejected) => StoredWatch.notify(nc, seqs, rejected),
      onStored: (stored) => live.publishRound(stored),
      offlineAfterSeconds: config.OFFLINE_AFTER_SECONDS,
      onSeenNotOnline: (seen) => tracker.seen(seen),
    });
    // Registered after the MongoDB client, so they stop (finishing the batch in hand) before it closes.
    await ingest.start();
    // Stops after ingest (steps run last-added first): the publishes of its last round go out.
    shutdown.add("live readings", () => live.idle());
    shutdown.add("readings ingest", () => ingest.stop());
    tracker.start();
    shutdown.add("presence tracker", () => tracker.stop());
    const retention = new RetentionJob({
      // The lease names the process, as the command leases do (tests run instances with one INSTANCE_ID).
      monitors: presence,
      readings,
      tiers,
      log: log.child({ component: "retention" }),
      instance: `${instance}.${randomBytes(4).toString("hex")}`,
      readingsDays: config.READINGS_RETENTION_DAYS,
      rollupDays,
      intervalMs: config.RETENTION_INTERVAL_MS,
      batchSize: config.RETENTION_BATCH_SIZE,
      batchPauseMs: config.RETENTION_BATCH_PAUSE_MS,
      downsampleDelayMs: config.DOWNSAMPLE_DELAY_MS,
    });
    retention.start();
    shutdown.add("retention", () => retention.stop());
    const cascade = await startUserDeletedCascade({
      nc,
      replicas,
      monitors,
      monitorData,
      webhooks,
      log: log.child({ component: "cascade" }),
    });
    shutdown.add("user-deleted cascade", () => cascade.stop());
    const delivery = await startWebhookDelivery({
      nc,
      replicas,
      webhooks,
      egress,
      log: log.child({ component: "webhooks" }),
      timeoutMs: config.WEBHOOK_TIMEOUT_MS,
      retryDelayMs: config.WEBHOOK_RETRY_MS,
      maxDelayMs: config.WEBHOOK_MAX_RETRY_MS,
    });
    shutdown.add("webhook delivery", () => delivery.stop());

    // Delivery leases name the process (tests run two instances with one INSTANCE_ID).
    const leaseHolder = `${instance}.${randomBytes(4).toString("hex")}`;
    const dispatcher = new CommandDispatcher({
      nc,
      store: commands,
      events,
      log: log.child({ component: "commands" }),
      instance: leaseHolder,
      retryIntervalMs: config.COMMAND_RETRY_INTERVAL_MS,
    });
    dispatcher.start();
    shutdown.add("command dispatcher", () => dispatcher.stop());

    const t: TelemetryContext = {
      nc,
      js,
      monitors,
      readings,
      rollups,
      monitorData,
      stored,
      presence,
      tiers,
      rollupDays,
      offlineAfterSeconds: config.OFFLINE_AFTER_SECONDS,
    };
    return {
      handlers: {
        ...monitorHandlers(t),
        ...presenceHandlers(t),
        ...readingHandlers(t),
        ...compatV1Handlers(t),
        ...commandHandlers({ monitors, commands, dispatcher, instance: leaseHolder, leaseMs: COMMAND_LEASE_MS }),
        ...alarmHandlers({
          nc,
          monitors,
          rules: alarmRules,
          alarms,
          webhooks,
          notifier,
          evaluator,
          egress,
        }),
      },
      checks: {
        mongo: mongo.ping,
        ingest: async () => {
          if (ingest.lastError) throw new Error(`last readings batch failed: ${ingest.lastError.message}`);
        },
      },
    };
  },
});
