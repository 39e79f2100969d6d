import { randomBytes } from "node:crypto";
import { catalogs } from "@trellis/contracts";
import { runService } from "@trellis/runtime";
import pkg from "../package.json" with { type: "json" };
import { telemetryConfigSchema } from "./config.ts";
import { openJetStream, openStores } from "./connections.ts";
import { startAlarms } from "./features/alarms.ts";
import { startCommands } from "./features/commands.ts";
import { startIngest } from "./features/ingest.ts";
import { startLive } from "./features/live.ts";
import { monitorsFeature } from "./features/monitors.ts";
import { startPresence } from "./features/presence.ts";
import { startReadYourWrites } from "./features/read-your-writes.ts";
import { startReadingsMigration } from "./features/readings-migration.ts";
import { startRetention } from "./features/retention.ts";
import { startUserDeletedCascade } from "./features/user-deleted.ts";
import { startWebhookDelivery, webhookEgressPolicy } from "./features/webhooks.ts";
import { MonitorData } from "./monitor-data.ts";

/**
 * How telemetry stops, first to last, between runService stopping the request handlers and
 * draining NATS. A phase's steps stop together.
 */
const SHUTDOWN_PHASES = [
  // No new work taken: the start-up migration, command delivery, the webhook and cascade consumers.
  "stop intake",
  // Retention and presence sweeps.
  "stop sweeps",
  // Ingest writes and acks the readings it already received.
  "drain ingest",
  // The live publishes of its last rounds go out.
  "flush live publishes",
  "stop alarm notifications",
  "stop read-your-writes",
  "close MongoDB",
] as const;

await runService({
  name: "telemetry",
  version: pkg.version,
  catalog: catalogs.telemetry,
  config: telemetryConfigSchema,
  async start({ config, log, nc, shutdown, instance }) {
    const stop = shutdown.phases(SHUTDOWN_PHASES);
    // Names this process in leases and conditional writes (tests run instances with one INSTANCE_ID).
    const processId = `${instance}.${randomBytes(4).toString("hex")}`;

    const { mongo, stores } = await openStores(config, instance, log);
    stop.add("close MongoDB", "mongodb client", () => mongo.close());
    const migration = startReadingsMigration({ config, stores, processId, log });
    await stop.started("stop intake", "readings migration", migration).done;
    const { jsm, js, events, notices } = await openJetStream(nc, config, log);
    const deps = { nc, js, jsm, events, notices, config, stores, processId, log };

    const stored = stop.started("stop read-your-writes", "stored watch", await startReadYourWrites(deps));
    const egress = webhookEgressPolicy(config, log);
    const alarms = stop.started("stop alarm notifications", "alarms", await startAlarms({ ...deps, egress }));
    const live = stop.started("flush live publishes", "live readings", startLive(deps));
    const presence = stop.started(
      "stop sweeps",
      "presence tracker",
      await startPresence({ ...deps, notifier: alarms.notifier }),
    );
    const ingest = stop.started(
      "drain ingest",
      "readings ingest",
      await startIngest({ ...deps, alarms: alarms.evaluator, live, stored, presence }),
    );
    stop.started("stop sweeps", "retention", startRetention(deps));
    const monitorData = new MonitorData({ ...stores, jsm, events, alarmData: alarms });
    stop.started("stop intake", "user-deleted cascade", await startUserDeletedCascade({ ...deps, monitorData }));
    stop.started("stop intake", "webhook delivery", await startWebhookDelivery({ ...deps, egress }));
    const commands = stop.started("stop intake", "command dispatcher", startCommands(deps));
    const monitors = monitorsFeature({ ...deps, monitorData, stored });

    return {
      handlers: { ...monitors.handlers, ...presence.handlers, ...commands.handlers, ...alarms.handlers },
      checks: { mongo: mongo.ping, ingest: ingest.check },
    };
  },
});
