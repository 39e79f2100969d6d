/**
 * Commands to devices, the pure part: when a command expires, what a device's answer means, the
 * page cursor. The store keeps the record; `commands/dispatcher.ts` delivers it.
 */
import { COMMAND_EXPIRES_IN_MS, DeviceCommandAnswer, MAX_DEVICE_ERROR_CHARS } from "@trellis/contracts";

/** The reason of a command that could not be delivered because nothing listens on its subject. */
export const DEVICE_OFFLINE = "device offline";

/**
 * Until when a command may still be delivered: a persistent one waits `expiresInMs` (default one
 * hour) for its device; a non-persistent one is tried at once, and again only if the instance
 * that took it died before trying, within its `timeoutMs`.
 */
export function expiryOf(createdAt: number, c: { persistent: boolean; timeoutMs: number; expiresInMs?: number }) {
  return createdAt + (c.persistent ? (c.expiresInMs ?? COMMAND_EXPIRES_IN_MS.default) : c.timeoutMs);
}

/** Largest answer kept: a result is a record of what the device did, not a data channel. */
export const MAX_ANSWER_BYTES = 64 * 1024;

export type AnswerOutcome = { state: "succeeded"; result: unknown } | { state: "failed"; error: string };

/**
 * What a device's answer means. `{ok: true, result}` succeeds; `{ok: false, error}` fails with the
 * device's error; anything else fails, saying why, so a broken device shows in the command record.
 */
export function interpretAnswer(data: Uint8Array): AnswerOutcome {
  if (data.byteLength > MAX_ANSWER_BYTES) {
    return { state: "failed", error: `the device's answer is larger than ${MAX_ANSWER_BYTES} bytes` };
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(data));
  } catch {
    return { state: "failed", error: "invalid answer from the device: not JSON" };
  }
  const answer = DeviceCommandAnswer.safeParse(json);
  if (!answer.success) {
    const why = answer.error.issues.map((i) => `${i.path.join(".") || "(answer)"}: ${i.message}`).join("; ");
    return {
      state: "failed",
      error: `invalid answer from the device (expected {ok: true, result} or {ok: false, error}): ${why}`.slice(
        0,
        MAX_DEVICE_ERROR_CHARS,
      ),
    };
  }
  return answer.data.ok
    ? { state: "succeeded", result: answer.data.result ?? null }
    : { state: "failed", error: answer.data.error };
}

export const noAnswerError = (timeoutMs: number) => `no answer within ${timeoutMs} ms`;
export const expiredError = (createdAt: Date, expiresAt: Date) =>
  `not delivered within ${expiresAt.getTime() - createdAt.getTime()} ms: the device was not reachable`;

/** The position of a command in a newest-first page: `<createdAt ms>.<id>`. */
export const encodeCursor = (createdAt: Date, id: string): string => `${createdAt.getTime()}.${id}`;

export function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  const dot = cursor.indexOf(".");
  return { createdAt: new Date(Number(cursor.slice(0, dot))), id: cursor.slice(dot + 1) };
}
