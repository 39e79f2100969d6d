import { z } from "zod";
import {
  COMMAND_EXPIRES_IN_MS,
  COMMAND_TIMEOUT_MS,
  Command,
  CommandCursor,
  CommandName,
  CommandParams,
  CommandsPage,
} from "../commands.ts";
import { MonitorId } from "../identity.ts";
import { authErrors, ErrorResponse } from "./errors-http.ts";
import { route } from "./route.ts";

const tags = ["commands"];
const notFound = (what: string) => ({ 404: { description: what, schema: ErrorResponse } }) as const;

export const SendCommandBody = z
  .object({
    name: CommandName.describe("What the device should do, e.g. `set_interval`, `calibrate_ph`."),
    params: CommandParams.default({}).describe("Arguments for the device (a JSON object, up to 16 KiB)."),
    timeout_ms: z
      .number()
      .int()
      .min(COMMAND_TIMEOUT_MS.min)
      .max(COMMAND_TIMEOUT_MS.max)
      .default(COMMAND_TIMEOUT_MS.default)
      .describe("How long the device has to answer once the command reached it; no answer → `failed`."),
    persistent: z
      .boolean()
      .default(false)
      .describe(
        "false: a device that is not connected fails the command at once (`device offline`). true: it waits (`pending`) and is delivered when the device is reachable, until `expires_in_ms`.",
      ),
    expires_in_ms: z
      .number()
      .int()
      .min(COMMAND_EXPIRES_IN_MS.min)
      .max(COMMAND_EXPIRES_IN_MS.max)
      .optional()
      .describe("Persistent only (default one hour): not delivered within this → `expired`."),
  })
  .strict()
  .refine((b) => b.persistent || b.expires_in_ms === undefined, {
    message: "expires_in_ms applies to persistent commands only",
    path: ["expires_in_ms"],
  })
  // The same rule for the OpenAPI document: `expires_in_ms` only with `persistent: true`.
  .meta({
    anyOf: [
      { not: { required: ["expires_in_ms"] } },
      { required: ["persistent"], properties: { persistent: { const: true } } },
    ],
  });

/**
 * Commands to devices. Permission as for a monitor's data: its owner or an admin; anyone else gets
 * 404 for the monitor or the command, as for an id that does not exist.
 */
export const commandsV2Routes = {
  send: route({
    method: "post",
    path: "/api/v2/monitors/:id/commands",
    operationId: "sendCommand",
    summary:
      "Send a command to a monitor's device (owner or admin). Answers 202 with the command once its first delivery attempt is done (`delivered`, `failed` with `device offline`, or `pending` for a persistent command waiting for its device); with `?wait=true`, 200 once it is finished (`succeeded`, `failed`, `expired`), or 202 if it is still running at the request deadline.",
    tags,
    auth: "bearer",
    params: z.object({ id: MonitorId }),
    query: z.object({
      wait: z
        .enum(["true", "false"])
        .default("false")
        .transform((v) => v === "true")
        .describe("Answer when the command is finished."),
    }),
    body: SendCommandBody,
    responses: {
      200: { description: "Finished (with `wait=true`).", schema: Command },
      202: {
        description: "Accepted; follow it with `GET /api/v2/commands/{id}`.",
        schema: Command,
        headers: { Location: "`/api/v2/commands/{id}`." },
      },
      ...notFound("No such monitor (or not yours)."),
      ...authErrors,
    },
  }),
  list: route({
    method: "get",
    path: "/api/v2/monitors/:id/commands",
    operationId: "listCommands",
    summary: "A monitor's command history, newest first, a page at a time (owner or admin).",
    tags,
    auth: "bearer",
    params: z.object({ id: MonitorId }),
    query: z.object({
      limit: z.coerce.number().int().min(1).max(200).default(50),
      cursor: CommandCursor.optional().describe("The previous page's `nextCursor`."),
    }),
    responses: {
      200: { description: "A page of commands.", schema: CommandsPage },
      ...notFound("No such monitor (or not yours)."),
      ...authErrors,
    },
  }),
  get: route({
    method: "get",
    path: "/api/v2/commands/:id",
    operationId: "getCommand",
    summary: "One command and its state, timestamps, result or error (the monitor's owner or an admin).",
    tags,
    auth: "bearer",
    params: z.object({ id: z.uuid() }),
    responses: {
      200: { description: "The command.", schema: Command },
      ...notFound("No such command (or not yours)."),
      ...authErrors,
    },
  }),
} as const;
