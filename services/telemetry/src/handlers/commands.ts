import { randomUUID } from "node:crypto";
import {
  type Command,
  type commandsCatalog,
  type Principal,
  TERMINAL_COMMAND_STATES,
  TrellisError,
} from "@trellis/contracts";
import type { ServiceParts } from "@trellis/runtime";
import type { CommandDispatcher } from "../commands/dispatcher.ts";
import { isAdmin, requireUser } from "../domain/authorization.ts";
import { decodeCursor, encodeCursor, expiryOf } from "../domain/commands.ts";
import type { CommandDoc, CommandsStore } from "../store/commands.ts";
import type { MonitorsStore } from "../store/monitors.ts";
import { monitorNotFound } from "./access.ts";
import { commandView } from "./command-view.ts";

export type CommandHandlers = ServiceParts<typeof commandsCatalog>["handlers"];

export interface CommandsDeps {
  monitors: MonitorsStore;
  commands: CommandsStore;
  dispatcher: CommandDispatcher;
  instance: string;
  /** The delivery lease a new command starts with (its first attempt is made at once). */
  leaseMs: number;
}

/** A `wait` answers this long before the caller's deadline, with the command as it is then. */
const WAIT_MARGIN_MS = 250;

const commandNotFound = () => new TrellisError("not_found", "command not found");

/**
 * Who may command a monitor or read its commands: its owner or an admin (users only). Anyone else
 * gets `not_found`, as for a monitor that does not exist, so ids cannot be probed.
 */
function mayCommand(actor: Principal, ownerId: string): boolean {
  const user = requireUser(actor);
  return isAdmin(user) || user.userId === ownerId;
}

export function commandHandlers(d: CommandsDeps): CommandHandlers {
  async function commandableMonitor(actor: Principal, monitorId: string) {
    const monitor = await d.monitors.findSummary(monitorId);
    if (!monitor || !mayCommand(actor, monitor.ownerId)) throw monitorNotFound();
    return monitor;
  }

  return {
    async sendCommand(req, { deadline }) {
      const monitor = await commandableMonitor(req.actor, req.monitorId);
      const now = new Date();
      const doc: CommandDoc = {
        _id: randomUUID(),
        monitorId: monitor._id,
        ownerId: monitor.ownerId,
        name: req.name,
        params: req.params,
        persistent: req.persistent,
        timeoutMs: req.timeoutMs,
        state: "pending",
        createdAt: now,
        expiresAt: new Date(
          expiryOf(now.getTime(), {
            persistent: req.persistent,
            timeoutMs: req.timeoutMs,
            ...(req.expiresInMs !== undefined ? { expiresInMs: req.expiresInMs } : {}),
          }),
        ),
        deliveredAt: null,
        answerBy: null,
        finishedAt: null,
        attempts: 1,
        error: null,
        // Stored with this instance's lease: it makes the first attempt now, nobody else.
        claimedBy: d.instance,
        claimUntil: new Date(now.getTime() + d.leaseMs),
        nextAttemptAt: now,
      };
      const following = req.wait ? d.dispatcher.follow(doc.monitorId, doc._id) : undefined;
      try {
        await d.commands.insert(doc);
        let current: Command = commandView(await d.dispatcher.deliver(doc));
        if (following && !TERMINAL_COMMAND_STATES.includes(current.state)) {
          const finished = await following.result(deadline - WAIT_MARGIN_MS);
          current = finished ?? commandView((await d.commands.get(doc._id)) ?? doc);
        }
        return current;
      } finally {
        following?.close();
      }
    },

    async listCommands({ actor, monitorId, limit, cursor }) {
      await commandableMonitor(actor, monitorId);
      const docs = await d.commands.page(monitorId, limit + 1, cursor ? decodeCursor(cursor) : undefined);
      const items = docs.slice(0, limit);
      const last = items.at(-1);
      return {
        items: items.map(commandView),
        nextCursor: docs.length > limit && last ? encodeCursor(last.createdAt, last._id) : null,
      };
    },

    async getCommand({ actor, commandId }) {
      const doc = await d.commands.get(commandId);
      if (!doc || !mayCommand(actor, doc.ownerId)) throw commandNotFound();
      return commandView(doc);
    },
  };
}
