/**
 * The device side of commands, as a simulated monitor does it (and as docs/commands.md shows): listen on
 * the monitor's commands subject, answer each request on its reply subject with
 * `{ok: true, result}` or `{ok: false, error}`. The device's NATS user may publish to a reply
 * subject only for a command it received (`allow_responses`).
 */
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { type DeviceCommand, type DeviceCommandAnswer, deviceSubjects } from "@trellis/contracts";

/** What a simulated device's commands change. */
export interface DeviceSettings {
  /** Its own publish interval (ms), once `set_interval` set one. */
  intervalMs?: number;
  /** The last pH calibration: reference solution and the offset applied since. */
  phCalibration?: { reference: number; offset: number; at: number };
}

/** Bounds of `set_interval`'s `interval_ms`. */
export const INTERVAL_MS = { min: 100, max: 3_600_000 } as const;

const isNumber = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

/**
 * A simulated device's commands:
 * - `set_interval {interval_ms}` → its readings every `interval_ms` (100 ms .. 1 h); result `{interval_ms, previous_ms}`;
 * - `calibrate_ph {reference?}` (a buffer solution, default 7.0, range 0..14) against the pH it
 *   measures now → result `{reference, measured, offset}`;
 * - anything else → error `unknown command "<name>"`.
 * `measuredPh` is what the probe reads at that moment.
 */
export function answerCommand(
  settings: DeviceSettings,
  command: DeviceCommand,
  measuredPh: () => number,
  now = Date.now(),
): DeviceCommandAnswer {
  switch (command.name) {
    case "set_interval": {
      const ms = command.params.interval_ms;
      if (!isNumber(ms) || !Number.isInteger(ms) || ms < INTERVAL_MS.min || ms > INTERVAL_MS.max) {
        return { ok: false, error: `interval_ms must be an integer from ${INTERVAL_MS.min} to ${INTERVAL_MS.max}` };
      }
      const previous = settings.intervalMs ?? null;
      settings.intervalMs = ms;
      return { ok: true, result: { interval_ms: ms, previous_ms: previous } };
    }
    case "calibrate_ph": {
      const reference = command.params.reference ?? 7;
      if (!isNumber(reference) || reference < 0 || reference > 14) {
        return { ok: false, error: "reference must be a pH from 0 to 14" };
      }
      const measured = measuredPh();
      const offset = Math.round((reference - measured) * 1_000) / 1_000;
      settings.phCalibration = { reference, offset, at: now };
      return { ok: true, result: { reference, measured, offset } };
    }
    default:
      return { ok: false, error: `unknown command "${command.name}"` };
  }
}

/**
 * Answers a device's commands with `answer` until the subscription ends. A message that is not a
 * command (bad JSON) is answered `{ok: false}` too, so the sender learns why.
 */
export function serveCommands(
  nc: NatsConnection,
  monitorId: string,
  answer: (command: DeviceCommand) => DeviceCommandAnswer | Promise<DeviceCommandAnswer>,
): Subscription {
  return nc.subscribe(deviceSubjects.commands(monitorId), {
    callback: (err, msg) => {
      if (err || !msg.reply) return;
      let command: DeviceCommand;
      try {
        command = msg.json<DeviceCommand>();
        if (typeof command?.name !== "string") throw new Error("no name");
        command.params ??= {};
      } catch {
        msg.respond(JSON.stringify({ ok: false, error: "not a command" }));
        return;
      }
      void Promise.resolve()
        .then(() => answer(command))
        .catch((e: unknown) => ({ ok: false as const, error: String((e as Error)?.message ?? e) }))
        .then((a) => msg.respond(JSON.stringify(a)));
    },
  });
}
