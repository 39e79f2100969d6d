import { headers } from "@nats-io/transport-node";
import { DeadLetter, TrellisError } from "@trellis/contracts";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  type Attempt,
  decide,
  isRetryable,
  PoisonMessageError,
  parseMessage,
  type RetryPolicy,
  retryDelayMs,
} from "./consume.ts";
import { deadLetterRecord, encodePayload } from "./dead-letter.ts";

const retry: RetryPolicy = { delayMs: 1_000, factor: 2, maxDelayMs: 10_000 };
const first = { deliveryCount: 1, maxDeliver: 5 };
const failed = (error: unknown): Attempt => ({ ok: false, kind: "handler", error });

describe("decide", () => {
  it("acks a handled message", () => {
    expect(decide({ ok: true }, first, retry)).toEqual({ action: "ack" });
  });

  it("terms (and dead-letters) a message that is not JSON or violates the schema, on any delivery", () => {
    expect(decide({ ok: false, kind: "invalid_json", reason: "not json" }, first, retry)).toEqual({
      action: "term",
      kind: "invalid_json",
      reason: "not json",
    });
    expect(decide({ ok: false, kind: "schema_violation", reason: "bad" }, first, retry)).toMatchObject({
      action: "term",
      kind: "schema_violation",
    });
  });

  it("naks a retryable handler failure with a delay that grows with the delivery count", () => {
    const err = new Error("database away");
    expect(decide(failed(err), { deliveryCount: 1, maxDeliver: -1 }, retry)).toEqual({
      action: "nak",
      delayMs: 1_000,
      reason: "database away",
    });
    expect(decide(failed(err), { deliveryCount: 3, maxDeliver: -1 }, retry)).toMatchObject({ delayMs: 4_000 });
    expect(decide(failed(err), { deliveryCount: 30, maxDeliver: -1 }, retry)).toMatchObject({ delayMs: 10_000 });
  });

  it("terms a non-retryable handler failure at once: PoisonMessageError or a non-retryable TrellisError", () => {
    expect(decide(failed(new PoisonMessageError("unknown video")), first, retry)).toEqual({
      action: "term",
      kind: "unrecoverable",
      reason: "unknown video",
    });
    expect(decide(failed(new TrellisError("not_found", "no such user")), first, retry)).toMatchObject({
      action: "term",
      kind: "unrecoverable",
    });
  });

  it("retries transient TrellisErrors and `internal` ones", () => {
    for (const code of ["unavailable", "deadline_exceeded", "rate_limited", "internal"] as const) {
      expect(decide(failed(new TrellisError(code, code)), first, retry).action).toBe("nak");
    }
  });

  it("dead-letters a retryable failure on the last delivery max_deliver allows", () => {
    const outcome = decide(failed(new Error("still down")), { deliveryCount: 5, maxDeliver: 5 }, retry);
    expect(outcome).toEqual({
      action: "term",
      kind: "max_deliver",
      reason: "failed on all 5 deliveries; last error: still down",
    });
    expect(decide(failed(new Error("x")), { deliveryCount: 4, maxDeliver: 5 }, retry).action).toBe("nak");
    // Unlimited deliveries never run out.
    expect(decide(failed(new Error("x")), { deliveryCount: 1_000, maxDeliver: -1 }, retry).action).toBe("nak");
    expect(decide(failed(new Error("x")), { deliveryCount: 1_000, maxDeliver: 0 }, retry).action).toBe("nak");
  });
});

describe("retryDelayMs", () => {
  it("defaults to doubling up to a minute", () => {
    expect([1, 2, 3, 8].map((n) => retryDelayMs(n, { delayMs: 500 }))).toEqual([500, 1_000, 2_000, 60_000]);
  });

  it("honours a longer retry-after hint from a TrellisError", () => {
    const limited = new TrellisError("rate_limited", "slow down", { details: { retryAfterSeconds: 7 } });
    expect(retryDelayMs(1, retry, limited)).toBe(7_000);
    expect(retryDelayMs(5, retry, limited)).toBe(10_000);
  });

  it("a constant delay with factor 1", () => {
    expect(retryDelayMs(9, { delayMs: 5_000, factor: 1 })).toBe(5_000);
  });
});

describe("isRetryable", () => {
  it("treats unknown exceptions as transient", () => {
    expect(isRetryable(new Error("ECONNRESET"))).toBe(true);
    expect(isRetryable("thrown string")).toBe(true);
    expect(isRetryable(new TrellisError("invalid_argument", "x"))).toBe(false);
  });
});

describe("parseMessage", () => {
  const schema = z.object({ userId: z.uuid() });
  const bytes = (s: string) => new TextEncoder().encode(s);

  it("decodes and validates", () => {
    const id = crypto.randomUUID();
    expect(parseMessage(bytes(JSON.stringify({ userId: id })), schema)).toEqual({ ok: true, value: { userId: id } });
  });

  it("tells invalid JSON (including non-UTF-8 and empty payloads) from a schema violation", () => {
    expect(parseMessage(bytes("{nope"), schema)).toMatchObject({ ok: false, kind: "invalid_json" });
    expect(parseMessage(new Uint8Array([0x7b, 0xff, 0x7d]), schema)).toMatchObject({ ok: false, kind: "invalid_json" });
    expect(parseMessage(new Uint8Array(), schema)).toMatchObject({ ok: false, kind: "invalid_json" });
    const bad = parseMessage(bytes('{"userId":"x"}'), schema);
    expect(bad).toMatchObject({ ok: false, kind: "schema_violation" });
    expect(bad.ok ? "" : bad.reason).toMatch(/^invalid message: userId: /);
  });
});

describe("dead-letter records", () => {
  it("keep text as text and anything else as base64", () => {
    expect(encodePayload(new TextEncoder().encode('{"a":"é"}'), 100)).toEqual({
      payload: '{"a":"é"}',
      payloadEncoding: "utf8",
      payloadBytes: 10,
      truncated: false,
    });
    expect(encodePayload(new Uint8Array([0xff, 0x00, 0x01]), 100)).toEqual({
      payload: "/wAB",
      payloadEncoding: "base64",
      payloadBytes: 3,
      truncated: false,
    });
  });

  it("truncate large payloads, without splitting a character into base64", () => {
    // "aé" is 3 bytes; a cut after 2 splits the é.
    const cut = encodePayload(new TextEncoder().encode("aéb"), 2);
    expect(cut).toEqual({ payload: "a", payloadEncoding: "utf8", payloadBytes: 4, truncated: true });
  });

  it("carry the message's origin and headers and satisfy the contract", () => {
    const h = headers();
    h.set("Nats-Msg-Id", "user-deleted:1");
    h.append("X-Trace", "a");
    h.append("X-Trace", "b");
    const record = deadLetterRecord(
      {
        service: "telemetry",
        stream: "AUTH_EVENTS",
        consumer: "telemetry-user-deleted",
        subject: "auth.v1.events.user_deleted",
        streamSequence: 42,
        deliveryCount: 1,
        data: new TextEncoder().encode("{oops"),
        headers: h,
      },
      "invalid_json",
      "payload is not valid JSON",
    );
    expect(DeadLetter.parse(record)).toEqual(record);
    expect(record).toMatchObject({
      streamSequence: 42,
      kind: "invalid_json",
      payload: "{oops",
      headers: { "Nats-Msg-Id": ["user-deleted:1"], "X-Trace": ["a", "b"] },
    });
  });
});
