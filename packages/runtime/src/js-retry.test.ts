import { JetStreamApiError } from "@nats-io/jetstream";
import { jserrors } from "@nats-io/jetstream/internal";
import { errors } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { isTransientJsError, withJsRetry } from "./js-retry.ts";

const apiError = (code: number, err_code: number) => new JetStreamApiError({ code, err_code, description: "x" });

describe("isTransientJsError", () => {
  it("retries what a failover answers: timeouts, no responders, 503 and cluster-transient codes", () => {
    expect(isTransientJsError(new errors.TimeoutError())).toBe(true);
    expect(isTransientJsError(new jserrors.JetStreamNotEnabled("jetstream is not enabled"))).toBe(true);
    expect(isTransientJsError(new errors.NoRespondersError("$JS.API.STREAM.INFO.X"))).toBe(true);
    expect(isTransientJsError(apiError(503, 10008))).toBe(true); // temporarily unavailable
    expect(isTransientJsError(apiError(400, 10005))).toBe(true); // no suitable peers (a node down)
    expect(isTransientJsError(new errors.ConnectionError("connection lost"))).toBe(true);
  });

  it("does not retry what another attempt cannot fix", () => {
    expect(isTransientJsError(apiError(400, 10058))).toBe(false); // stream name in use, other config
    expect(isTransientJsError(apiError(404, 10059))).toBe(false); // stream not found
    expect(isTransientJsError(new errors.ClosedConnectionError())).toBe(false);
    expect(isTransientJsError(new errors.DrainingConnectionError())).toBe(false);
    expect(isTransientJsError(new Error("bug"))).toBe(false);
  });
});

describe("withJsRetry", () => {
  it("retries transient failures until the operation succeeds, with growing delays", async () => {
    let calls = 0;
    const delays: number[] = [];
    const result = await withJsRetry(
      async () => {
        calls++;
        if (calls < 4) throw apiError(503, 10008);
        return "ok";
      },
      { initialDelayMs: 10, maxDelayMs: 40, onRetry: (_e, _a, d) => delays.push(d) },
    );
    expect(result).toBe("ok");
    expect(calls).toBe(4);
    expect(delays).toHaveLength(3);
    // Jittered within [half, full] of 10, 20, 40 ms.
    expect(delays[0]).toBeGreaterThanOrEqual(5);
    expect(delays[0]).toBeLessThanOrEqual(10);
    expect(delays[2]).toBeGreaterThanOrEqual(20);
    expect(delays[2]).toBeLessThanOrEqual(40);
  });

  it("rethrows a final error at once, and a transient one once the deadline has passed", async () => {
    let calls = 0;
    const final = apiError(400, 10058);
    await expect(
      withJsRetry(async () => {
        calls++;
        throw final;
      }),
    ).rejects.toBe(final);
    expect(calls).toBe(1);

    const started = Date.now();
    calls = 0;
    await expect(
      withJsRetry(
        async () => {
          calls++;
          throw new errors.TimeoutError();
        },
        { deadlineMs: 200, initialDelayMs: 20, maxDelayMs: 50 },
      ),
    ).rejects.toBeInstanceOf(errors.TimeoutError);
    expect(calls).toBeGreaterThan(2);
    expect(Date.now() - started).toBeLessThan(400);
  });
});
