import { z } from "zod";
import { endpoint } from "./endpoint.ts";
import { MonitorId, Principal } from "./identity.ts";
import { subject } from "./services.ts";

const s = (name: string) => subject("telemetry", 1, name);

/**
 * Commands to devices. A command is delivered as a NATS request on the device's commands subject
 * (`deviceSubjects.commands(id)`); the device answers on the request's reply subject, which its
 * NATS user may publish to exactly once (`allow_responses`), so it can answer only the commands it
 * received. Telemetry keeps each command in its database and walks it through
 * `pending → delivered → succeeded | failed | expired`.
 */
export const CommandState = z.enum(["pending", "delivered", "succeeded", "failed", "expired"]);
export type CommandState = z.infer<typeof CommandState>;
export const TERMINAL_COMMAND_STATES: readonly CommandState[] = ["succeeded", "failed", "expired"];

/** A command name: what the device dispatches on (`set_interval`, `calibrate_ph`...). */
export const CommandName = z
  .string()
  .regex(/^[a-z][a-z0-9_.-]{0,63}$/, "must be 1-64 characters: a lowercase letter, then a-z, 0-9, _ . -");

/** Largest `params` object, as JSON (bytes). */
export const MAX_COMMAND_PARAMS_BYTES = 16 * 1024;
/** Bounds of `timeout_ms`: how long a device has to answer once the command reached it. */
export const COMMAND_TIMEOUT_MS = { min: 100, max: 300_000, default: 10_000 } as const;
/** Bounds of `expires_in_ms`: how long a persistent command waits for its device. */
export const COMMAND_EXPIRES_IN_MS = { min: 1_000, max: 7 * 86_400_000, default: 3_600_000 } as const;

export const CommandParams = z
  .record(z.string(), z.unknown())
  .refine((p) => JSON.stringify(p).length <= MAX_COMMAND_PARAMS_BYTES, {
    message: `must be at most ${MAX_COMMAND_PARAMS_BYTES} bytes as JSON`,
  });

/** What the device receives on its commands subject (JSON). */
export const DeviceCommand = z.object({
  id: z.string(),
  name: CommandName,
  params: z.record(z.string(), z.unknown()),
});
export type DeviceCommand = z.infer<typeof DeviceCommand>;

/** Longest error text kept from a device's answer. */
export const MAX_DEVICE_ERROR_CHARS = 1_000;

/** What the device answers (JSON): `{ok: true, result}` or `{ok: false, error}`. */
export const DeviceCommandAnswer = z.discriminatedUnion("ok", [
  z.object({ ok: z.literal(true), result: z.unknown().optional() }),
  z.object({ ok: z.literal(false), error: z.string().min(1).max(MAX_DEVICE_ERROR_CHARS) }),
]);
export type DeviceCommandAnswer = z.infer<typeof DeviceCommandAnswer>;

/** A command and what became of it. Times are ISO 8601; null until they happen. */
export const Command = z.object({
  id: z.string(),
  monitorId: MonitorId,
  name: CommandName,
  params: z.record(z.string(), z.unknown()),
  persistent: z.boolean(),
  timeoutMs: z.number().int(),
  state: CommandState,
  createdAt: z.iso.datetime(),
  /** A persistent command not delivered by then is `expired`; a non-persistent one is tried once. */
  expiresAt: z.iso.datetime(),
  deliveredAt: z.iso.datetime().nullable(),
  finishedAt: z.iso.datetime().nullable(),
  /** Delivery attempts so far (a persistent command is retried while its device is offline). */
  attempts: z.number().int().nonnegative(),
  /** The device's `result` when `succeeded`. */
  result: z.unknown().optional(),
  /** Why it `failed` (the device's error, "device offline", "no answer within N ms") or `expired`. */
  error: z.string().nullable(),
});
export type Command = z.infer<typeof Command>;

export const CommandsPage = z.object({ items: z.array(Command), nextCursor: z.string().nullable() });
export type CommandsPage = z.infer<typeof CommandsPage>;

/** `<createdAt ms>.<id>` of the last command of a page: the next page starts after it. */
export const CommandCursor = z.string().regex(/^\d{1,16}\.[0-9a-f-]{36}$/, "must be a nextCursor from a previous page");

/**
 * Every change of a command's state, on the `TELEMETRY_EVENTS` stream (message id
 * `<commandId>.<state>`, so a retried publish is stored once). Subject
 * `telemetry.v1.events.commands.<monitorId>.<commandId>`: a monitor's or one command's changes can
 * be followed by subject filter.
 */
export const commandEvents = {
  stateChanged: {
    subject: (monitorId: string, commandId: string) => s(`events.commands.${monitorId}.${commandId}`),
    wildcard: s("events.commands.>"),
    schema: Command,
  },
} as const;

const Actor = { actor: Principal };

export const commandsCatalog = {
  sendCommand: endpoint({
    subject: s("commands.send"),
    request: z.object({
      ...Actor,
      monitorId: MonitorId,
      name: CommandName,
      params: CommandParams.default({}),
      timeoutMs: z.number().int().min(COMMAND_TIMEOUT_MS.min).max(COMMAND_TIMEOUT_MS.max),
      persistent: z.boolean().default(false),
      expiresInMs: z.number().int().min(COMMAND_EXPIRES_IN_MS.min).max(COMMAND_EXPIRES_IN_MS.max).optional(),
      /** Answer once the command is finished (or just before the caller's deadline). */
      wait: z.boolean().default(false),
    }),
    reply: Command,
    description:
      "Sends a command to a monitor's device (its owner or an admin): stored, delivered at once when the device is connected; a non-persistent one fails fast when it is not, a persistent one waits until it connects or expires.",
  }),
  listCommands: endpoint({
    subject: s("commands.list"),
    request: z.object({
      ...Actor,
      monitorId: MonitorId,
      limit: z.number().int().min(1).max(200).default(50),
      cursor: CommandCursor.optional(),
    }),
    reply: CommandsPage,
    description: "A monitor's commands, newest first, a page at a time (its owner or an admin).",
  }),
  getCommand: endpoint({
    subject: s("commands.get"),
    request: z.object({ ...Actor, commandId: z.uuid() }),
    reply: Command,
    description: "One command (the monitor's owner or an admin).",
  }),
} as const;
