/**
 * What telemetry opens besides its NATS connection (runService makes that): its MongoDB database,
 * with every store and its indexes, and its JetStream streams and durable consumers.
 */
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  AUTH_EVENTS_STREAM,
  AUTH_EVENTS_SUBJECTS,
  READINGS_STREAM,
  TELEMETRY_EVENTS_STREAM,
  TELEMETRY_EVENTS_SUBJECTS,
  WEBHOOKS_STREAM,
} from "@trellis/contracts";
import {
  connectMongo,
  type DurableSpec,
  type EventPublisher,
  ensureDurableConsumer,
  ensureStream,
  eventPublisher,
  logSetupWarnings,
  type MongoHandle,
  type NoticePublisher,
  noticePublisher,
  type StreamSpec,
  streamExists,
} from "@trellis/runtime";
import type { Logger } from "pino";
import type { TelemetryConfig } from "./config.ts";
import { userDeletedConsumerSpec } from "./features/user-deleted.ts";
import { webhooksConsumerSpec, webhooksStreamSpec } from "./features/webhooks.ts";
import { liveStreamSpec } from "./ingest/live-stream.ts";
import { readingsConsumerSpec, readingsStreamSpec } from "./ingest/readings-stream.ts";
import { AlarmRulesStore } from "./store/alarm-rules.ts";
import { AlarmsStore } from "./store/alarms.ts";
import { CommandsStore } from "./store/commands.ts";
import { MonitorsStore } from "./store/monitors.ts";
import { openReadingsStore } from "./store/open-readings.ts";
import { PresenceStore } from "./store/presence.ts";
import { ReadingDocsStore } from "./store/reading-docs.ts";
import type { ReadingsStore } from "./store/readings.ts";
import { RollupTiersStore } from "./store/rollup-tiers.ts";
import { RollupsStore } from "./store/rollups.ts";
import { WebhooksStore } from "./store/webhooks.ts";

export interface Stores {
  monitors: MonitorsStore;
  readings: ReadingsStore;
  /** The one-document-per-reading layout of earlier versions: only the start-up migration reads it. */
  readingDocs: ReadingDocsStore;
  rollups: RollupsStore;
  presence: PresenceStore;
  tiers: RollupTiersStore;
  commands: CommandsStore;
  alarmRules: AlarmRulesStore;
  alarms: AlarmsStore;
  webhooks: WebhooksStore;
}

/** Connects MongoDB (failing fast when unreachable) and makes every store's indexes. Close `mongo` on shutdown. */
export async function openStores(
  config: TelemetryConfig,
  appName: string,
  log: Logger,
): Promise<{ mongo: MongoHandle; stores: Stores }> {
  const mongo = await connectMongo(config.MONGO_URL, config.MONGO_DB, appName);
  const { db } = mongo;
  const readings = await openReadingsStore(db, config.READINGS_LAYOUT);
  log.info({ layout: readings.layout }, "readings layout");
  const stores: Stores = {
    monitors: new MonitorsStore(db),
    readings,
    readingDocs: new ReadingDocsStore(db),
    rollups: new RollupsStore(db),
    presence: new PresenceStore(db),
    tiers: new RollupTiersStore(db),
    commands: new CommandsStore(db),
    alarmRules: new AlarmRulesStore(db),
    alarms: new AlarmsStore(db),
    webhooks: new WebhooksStore(db),
  };
  const { monitors, rollups, presence, tiers, commands, alarmRules, alarms } = stores;
  await Promise.all(
    [monitors, readings, rollups, presence, tiers, commands, alarmRules, alarms].map((s) => s.ensureIndexes()),
  );
  return { mongo, stores };
}

export interface JetStreamParts {
  jsm: JetStreamManager;
  js: JetStreamClient;
  /** Durable events (`TELEMETRY_EVENTS`), validated against the contracts. */
  events: EventPublisher;
  /** Core NATS notices every instance hears (rule changes, rounds stored). */
  notices: NoticePublisher;
}

/** The streams telemetry owns, in the order they are made. */
const streamsOf = (config: TelemetryConfig): StreamSpec[] => [
  readingsStreamSpec(config.READINGS_MAX_AGE_DAYS),
  { name: TELEMETRY_EVENTS_STREAM, subjects: [TELEMETRY_EVENTS_SUBJECTS] },
  liveStreamSpec(),
  // Webhook notifications: a work queue (each job removed once acked), deduplicated on the event id.
  webhooksStreamSpec(),
];

/** The durable consumers telemetry reads with, by stream. */
const consumersOf = (config: TelemetryConfig): [stream: string, spec: DurableSpec][] => [
  [READINGS_STREAM, readingsConsumerSpec(config.INGEST_ROUND_SIZE)],
  [WEBHOOKS_STREAM, webhooksConsumerSpec(config.WEBHOOK_TIMEOUT_MS, config.WEBHOOK_MAX_DELIVER)],
  [AUTH_EVENTS_STREAM, userDeletedConsumerSpec()],
];

/**
 * Makes or updates telemetry's streams and durable consumers (JetStream keeps some settings of an
 * existing one, such as storage or ack policy: those are logged as warnings).
 */
export async function openJetStream(nc: NatsConnection, config: TelemetryConfig, log: Logger): Promise<JetStreamParts> {
  const jsm = await jetstreamManager(nc);
  const num_replicas = config.JETSTREAM_REPLICAS;
  for (const spec of streamsOf(config)) logSetupWarnings(log, await ensureStream(jsm, { ...spec, num_replicas }));
  // Auth owns this stream; create it (as auth does) if telemetry happens to start first.
  if (!(await streamExists(jsm, AUTH_EVENTS_STREAM))) {
    const auth = { name: AUTH_EVENTS_STREAM, subjects: [AUTH_EVENTS_SUBJECTS], num_replicas };
    logSetupWarnings(log, await ensureStream(jsm, auth));
  }
  for (const [stream, spec] of consumersOf(config)) {
    logSetupWarnings(log, await ensureDurableConsumer(jsm, stream, spec));
  }
  return { jsm, js: jetstream(nc), events: eventPublisher(nc), notices: noticePublisher(nc) };
}
