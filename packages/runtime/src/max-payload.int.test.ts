import { jetstream } from "@nats-io/jetstream";
import { connect, errors, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import {
  assertFitsMaxPayload,
  isMaxPayloadExceeded,
  jsPublishHeaders,
  MaxPayloadExceededError,
} from "./max-payload.ts";

const stack = inject("stack");
let nc: NatsConnection;

beforeAll(async () => {
  nc = await connect({ servers: stack.natsUrl, user: stack.natsUser, pass: stack.natsPassword });
});

afterAll(async () => {
  await nc?.close();
});

/** Whether nats.js itself refuses the message as too large (its InvalidArgumentError). */
async function natsRefuses(data: Uint8Array, msgID: string): Promise<boolean> {
  // No stream captures this subject: a message nats.js sends fails with no responders instead.
  const err = await jetstream(nc)
    .publish("test.max-payload.nowhere", data, { msgID, timeout: 1_000 })
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  return err instanceof errors.InvalidArgumentError;
}

describe("assertFitsMaxPayload", () => {
  it("refuses exactly what nats.js refuses, by class: data and headers over the server's max_payload", async () => {
    const max = nc.info?.max_payload ?? 0;
    expect(max).toBeGreaterThan(0);
    const msgID = "monitor:key";
    const room = max - Buffer.byteLength(jsPublishHeaders(msgID).toString());
    const fits = new Uint8Array(room);
    const over = new Uint8Array(room + 1);

    expect(() => assertFitsMaxPayload(max, fits, jsPublishHeaders(msgID))).not.toThrow();
    expect(await natsRefuses(fits, msgID)).toBe(false);

    let thrown: unknown;
    try {
      assertFitsMaxPayload(max, over, jsPublishHeaders(msgID));
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(MaxPayloadExceededError);
    expect(isMaxPayloadExceeded(thrown)).toBe(true);
    expect((thrown as MaxPayloadExceededError).code).toBe("max_payload_exceeded");
    expect(await natsRefuses(over, msgID)).toBe(true);
  });

  it("does not check before the server has said its max_payload", () => {
    expect(() => assertFitsMaxPayload(undefined, new Uint8Array(10))).not.toThrow();
    expect(isMaxPayloadExceeded(new Error("max_payload size exceeded"))).toBe(false);
  });
});
