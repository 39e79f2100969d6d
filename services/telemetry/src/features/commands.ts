import type { NatsConnection } from "@nats-io/transport-node";
import type { EventPublisher } from "@trellis/runtime";
import type { Logger } from "pino";
import { COMMAND_LEASE_MS, CommandDispatcher } from "../commands/dispatcher.ts";
import type { TelemetryConfig } from "../config.ts";
import type { Stores } from "../connections.ts";
import { type CommandHandlers, commandHandlers } from "../handlers/commands.ts";

export interface CommandsDeps {
  nc: NatsConnection;
  events: EventPublisher;
  config: Pick<TelemetryConfig, "COMMAND_RETRY_INTERVAL_MS">;
  stores: Pick<Stores, "monitors" | "commands">;
  /** Names this process as the holder of delivery leases (instances may share INSTANCE_ID). */
  processId: string;
  log: Logger;
}

/** Commands to devices: created over the catalog, delivered (and retried) by the dispatcher. */
export function startCommands({ nc, events, config, stores, processId, log }: CommandsDeps): {
  handlers: CommandHandlers;
  stop(): Promise<void>;
} {
  const dispatcher = new CommandDispatcher({
    nc,
    store: stores.commands,
    events,
    log: log.child({ component: "commands" }),
    instance: processId,
    retryIntervalMs: config.COMMAND_RETRY_INTERVAL_MS,
  });
  dispatcher.start();
  return {
    handlers: commandHandlers({
      monitors: stores.monitors,
      commands: stores.commands,
      dispatcher,
      instance: processId,
      leaseMs: COMMAND_LEASE_MS,
    }),
    stop: () => dispatcher.stop(),
  };
}
