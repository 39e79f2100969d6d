import { commandsCatalog, commandsV2Routes, TERMINAL_COMMAND_STATES } from "@trellis/contracts";
import type { Router } from "express";
import type { Mount } from "../http/mount.ts";

/** Commands to devices. Telemetry stores, delivers and authorizes (owner or admin, from `actor`). */
export function registerCommandsV2(router: Router, mount: Mount): void {
  const r = commandsV2Routes;

  mount(router, r.send, async ({ params, query, body, call }) => {
    const command = await call(commandsCatalog.sendCommand, {
      monitorId: params.id,
      name: body.name,
      params: body.params,
      timeoutMs: body.timeout_ms,
      persistent: body.persistent,
      ...(body.expires_in_ms !== undefined ? { expiresInMs: body.expires_in_ms } : {}),
      wait: query.wait,
    });
    const headers = { Location: `/api/v2/commands/${command.id}` };
    if (query.wait && TERMINAL_COMMAND_STATES.includes(command.state)) return { status: 200, body: command, headers };
    return { status: 202, body: command, headers };
  });

  mount(router, r.list, async ({ params, query, call }) => ({
    status: 200,
    body: await call(commandsCatalog.listCommands, {
      monitorId: params.id,
      limit: query.limit,
      ...(query.cursor !== undefined ? { cursor: query.cursor } : {}),
    }),
  }));

  mount(router, r.get, async ({ params, call }) => ({
    status: 200,
    body: await call(commandsCatalog.getCommand, { commandId: params.id }),
  }));
}
