import { createHash, randomBytes } from "node:crypto";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { streamEndpoint, TrellisError } from "@trellis/contracts";
import { failure, poll, uniqueSuffix } from "@trellis/stack/testing";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { Probe } from "../test/chunk-probe.ts";
import { readAll, receiveStream, STREAM_CHUNK_BYTES, STREAM_WINDOW } from "./byte-stream.ts";
import { requestStream } from "./client.ts";
import { encodeJson, type Server, type StreamReply, serve } from "./serve.ts";

// A subject of its own per run, so nothing else on the shared NATS server can answer or listen.
const prefix = `bstest${uniqueSuffix()}`;
const Meta = z.object({ name: z.string(), parts: z.number().int() }).strict();
const catalog = {
  bytes: streamEndpoint({
    subject: `${prefix}.v1.bytes`,
    request: z.object({ scenario: z.string().min(1) }).strict(),
    meta: Meta,
    contentType: "application/octet-stream",
    description: "test",
  }),
};
/** The same endpoint on another subject, served with a short sender idle timeout. */
const shortIdle = { bytes: streamEndpoint({ ...catalog.bytes, subject: `${prefix}.v1.short-idle` }) };
const SHORT_IDLE_MS = 500;

type Scenario = () => Promise<StreamReply<z.input<typeof Meta>>>;
/** Each test registers what the handler does for it, under a name of its own. */
const scenarios = new Map<string, Scenario>();
let scenarioCount = 0;
const scenario = (fn: Scenario): { scenario: string } => {
  const name = `s${++scenarioCount}`;
  scenarios.set(name, fn);
  return { scenario: name };
};

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const user = () => ({
  servers: inject("stack").natsUrl,
  user: inject("stack").natsUser,
  pass: inject("stack").natsPassword,
});

let nc: NatsConnection;
let server: Server;
let shortServer: Server;
const serverLog: string[] = [];

const handlers = {
  bytes: async ({ scenario }: { scenario: string }) => {
    const fn = scenarios.get(scenario);
    if (!fn) throw new TrellisError("not_found", `no scenario ${scenario}`);
    return fn();
  },
};

beforeAll(async () => {
  nc = await connect(user());
  const log = pino({ level: "debug" }, { write: (l: string) => void serverLog.push(l) });
  server = serve(nc, catalog, handlers, { queue: `${prefix}-q`, log });
  shortServer = serve(nc, shortIdle, handlers, {
    queue: `${prefix}-q`,
    log,
    stream: { idleTimeoutMs: SHORT_IDLE_MS },
  });
  await nc.flush();
});

afterAll(async () => {
  await server?.stop();
  await shortServer?.stop();
  await nc?.close();
});

/** Waits for the server to have no stream left in flight; returns how long that took. */
const settled = async (srv: Server = server) => {
  const { value, elapsedMs } = await poll(
    () => srv.inFlight,
    (n) => n === 0,
    { timeoutMs: 5_000 },
  );
  expect(value).toBe(0);
  return elapsedMs;
};

/** Waits until the source's `finally` ran; returns when (Date.now()). */
const sourceFinished = async (probe: Probe, timeoutMs = 5_000) => {
  const { value } = await poll(
    () => probe.finishedAt,
    (t) => t !== undefined,
    { timeoutMs },
  );
  expect(value, "the source's finally ran").toBeDefined();
  return value as number;
};

describe("byte streams over real NATS (serve + requestStream)", () => {
  it("20 MiB (over max_payload) arrive byte-identical in chunks of at most STREAM_CHUNK_BYTES", async () => {
    const maxPayload = nc.info?.max_payload ?? 0;
    const data = randomBytes(20 * 1024 * 1024 + 12_345);
    expect(data.length).toBeGreaterThan(maxPayload);
    // Odd sizes, pieces larger than max_payload, and multi-byte UTF-8 strings in between, so
    // rechunk has to split and join everywhere.
    const sizes = [1, 7, 1_000, 65_539, STREAM_CHUNK_BYTES, 3 * 1024 * 1024 + 1, maxPayload + 17];
    const sent = createHash("sha256");
    let sentBytes = 0;
    let pieces = 0;
    const source = async function* (): AsyncGenerator<Uint8Array | string> {
      for (let at = 0; at < data.length; pieces++) {
        if (pieces % 3 === 2) {
          const text = `piece ${pieces}: héllo ✓ 😀 — ${"ü".repeat(pieces % 50)}`;
          sent.update(text, "utf8");
          sentBytes += Buffer.byteLength(text);
          yield text;
          continue;
        }
        const piece = data.subarray(at, at + (sizes[pieces % sizes.length] as number));
        at += piece.length;
        sent.update(piece);
        sentBytes += piece.length;
        yield piece;
      }
    };
    const stream = await requestStream(
      nc,
      catalog.bytes,
      scenario(async () => ({ meta: { name: "big", parts: 1 }, body: source() })),
    );
    expect(stream.meta).toEqual({ name: "big", parts: 1 });
    const received = createHash("sha256");
    const chunkSizes: number[] = [];
    for await (const chunk of stream.chunks) {
      chunkSizes.push(chunk.length);
      received.update(chunk);
    }
    expect(chunkSizes.reduce((a, b) => a + b, 0)).toBe(sentBytes);
    expect(received.digest("hex")).toBe(sent.digest("hex"));
    expect(Math.max(...chunkSizes)).toBeLessThanOrEqual(STREAM_CHUNK_BYTES);
    // Exact chunks: every one is full but the last.
    expect(chunkSizes.slice(0, -1).every((n) => n === STREAM_CHUNK_BYTES)).toBe(true);
    expect(chunkSizes.length).toBe(Math.ceil(sentBytes / STREAM_CHUNK_BYTES));
    await settled();
  });

  it("a synchronous iterable of strings and bytes, and an empty body", async () => {
    const small = await requestStream(
      nc,
      catalog.bytes,
      scenario(async () => ({ meta: { name: "s", parts: 3 }, body: ["ab", new Uint8Array([0x63, 0x64]), "é"] })),
    );
    expect((await readAll(small.chunks)).toString("utf8")).toBe("abcdé");
    const empty = await requestStream(
      nc,
      catalog.bytes,
      scenario(async () => ({ meta: { name: "e", parts: 0 }, body: [] })),
    );
    expect(empty.meta).toEqual({ name: "e", parts: 0 });
    expect((await readAll(empty.chunks)).length).toBe(0);
    await settled();
  });

  it("a slow consumer makes the sender wait: the source is never more than the window (+1) ahead", async () => {
    for (const window of [STREAM_WINDOW, 2]) {
      const probe = new Probe();
      const count = 24;
      const started = Date.now();
      const stream = await requestStream(
        nc,
        catalog.bytes,
        scenario(async () => ({ meta: { name: "slow", parts: count }, body: probe.source(count) })),
        window === STREAM_WINDOW ? {} : { window },
      );
      let n = 0;
      for await (const chunk of stream.chunks) {
        expect(chunk[0]).toBe(n & 0xff);
        n += 1;
        await sleep(50);
        probe.consumed += 1;
      }
      expect(n).toBe(count);
      expect(Date.now() - started).toBeGreaterThanOrEqual(count * 50);
      // The window granted up front, plus the chunk the sender holds while it waits for credit.
      expect(probe.maxAhead).toBeLessThanOrEqual(window + 1);
      // ... and it did get that far ahead (the bound was the window, not the test's timing).
      expect(probe.maxAhead).toBeGreaterThanOrEqual(window);
    }
    await settled();
  });

  it("a consumer that breaks out stops the sender: the source's finally runs at once", async () => {
    const probe = new Probe();
    const stream = await requestStream(
      nc,
      catalog.bytes,
      scenario(async () => ({ meta: { name: "endless", parts: 0 }, body: probe.source() })),
    );
    let n = 0;
    for await (const _ of stream.chunks) {
      probe.consumed += 1;
      if (++n === 2) break;
    }
    const stoppedAt = Date.now();
    expect((await sourceFinished(probe)) - stoppedAt).toBeLessThan(1_000);
    expect(await settled()).toBeLessThan(1_000);
    expect(probe.produced).toBeLessThanOrEqual(2 + STREAM_WINDOW + 1);
  });

  it("cancel() stops the sender and ends the iteration, whether or not chunks were buffered", async () => {
    // Cancel before reading anything: the window's chunks are already buffered here.
    const unread = new Probe();
    const a = await requestStream(
      nc,
      catalog.bytes,
      scenario(async () => ({ meta: { name: "a", parts: 0 }, body: unread.source() })),
    );
    await poll(
      () => unread.produced,
      (n) => n > STREAM_WINDOW,
    );
    const cancelledAt = Date.now();
    a.cancel();
    expect((await sourceFinished(unread)) - cancelledAt).toBeLessThan(1_000);
    // Reading after cancel() fails at once, instead of waiting for chunks that will never come.
    const t0 = Date.now();
    const late = await failure<TrellisError>(readAll(a.chunks));
    expect(late).toBeInstanceOf(TrellisError);
    expect(late.code).toBe("cancelled");
    expect(Date.now() - t0).toBeLessThan(1_000);

    // Cancel in the middle of a for-await, then go on iterating.
    const middle = new Probe();
    const b = await requestStream(
      nc,
      catalog.bytes,
      scenario(async () => ({ meta: { name: "b", parts: 0 }, body: middle.source() })),
    );
    let n = 0;
    const t1 = Date.now();
    const err = await failure<TrellisError>(
      (async () => {
        for await (const _ of b.chunks) {
          middle.consumed += 1;
          if (++n === 2) b.cancel("enough");
        }
      })(),
    );
    expect(err.code).toBe("cancelled");
    expect(n).toBe(2);
    expect(Date.now() - t1).toBeLessThan(1_000);
    await sourceFinished(middle, 1_000);

    // Cancel from elsewhere while the consumer waits for a chunk the source is slow to make.
    const waiting = new Probe();
    const c = await requestStream(
      nc,
      catalog.bytes,
      scenario(async () => ({ meta: { name: "c", parts: 0 }, body: waiting.source(Infinity, { pauseMs: 300 }) })),
    );
    setTimeout(() => c.cancel(), 100);
    const t2 = Date.now();
    expect((await failure<TrellisError>(readAll(c.chunks))).code).toBe("cancelled");
    expect(Date.now() - t2).toBeLessThan(1_000);
    // The sender notices when the source hands it its next chunk (at most one pause later).
    expect((await sourceFinished(waiting)) - t2).toBeLessThan(1_000);
    expect(await settled()).toBeLessThan(1_000);
  });

  it("a handler that throws before returning rejects requestStream with its code; a bug is `internal`", async () => {
    const refused = await failure<TrellisError>(
      requestStream(
        nc,
        catalog.bytes,
        scenario(async () => {
          throw new TrellisError("forbidden", "not yours");
        }),
      ),
    );
    expect(refused).toBeInstanceOf(TrellisError);
    expect(refused.code).toBe("forbidden");
    expect(refused.message).toBe("not yours");

    const bug = await failure<TrellisError>(
      requestStream(
        nc,
        catalog.bytes,
        scenario(async () => {
          throw new Error("secret mongodb://u:p@h");
        }),
      ),
    );
    expect(bug.code).toBe("internal");
    expect(bug.message).toBe("internal error");
    await settled();
  });

  it("a source that fails mid-stream fails the consumer's iteration after the chunks before it", async () => {
    for (const [error, code, message] of [
      [new TrellisError("not_found", "the monitor went away"), "not_found", "the monitor went away"],
      [new Error("secret mongodb://u:p@h"), "internal", "internal error"],
    ] as const) {
      const probe = new Probe();
      const stream = await requestStream(
        nc,
        catalog.bytes,
        scenario(async () => ({ meta: { name: "f", parts: 5 }, body: probe.source(5, { fail: { at: 3, error } }) })),
      );
      const got: number[] = [];
      const err = await failure<TrellisError>(
        (async () => {
          for await (const chunk of stream.chunks) got.push(chunk[0] as number);
        })(),
      );
      expect(got).toEqual([0, 1, 2]);
      expect(err).toBeInstanceOf(TrellisError);
      expect(err.code).toBe(code);
      expect(err.message).toBe(message);
      expect(probe.finishedAt).toBeDefined();
    }
    await settled();
  });

  it("no responder → unavailable at once; a responder that never answers → deadline_exceeded on time", async () => {
    const nobody = streamEndpoint({ ...catalog.bytes, subject: `${prefix}.v1.nobody` });
    const t0 = Date.now();
    const unavailable = await failure<TrellisError>(
      requestStream(nc, nobody, { scenario: "x" }, { timeoutMs: 10_000 }),
    );
    expect(unavailable.code).toBe("unavailable");
    expect(unavailable.retryable).toBe(true);
    expect(Date.now() - t0).toBeLessThan(1_000);

    const silent = streamEndpoint({ ...catalog.bytes, subject: `${prefix}.v1.silent` });
    const sub = nc.subscribe(silent.subject, { callback: () => {} });
    await nc.flush();
    try {
      const t1 = Date.now();
      const late = await failure<TrellisError>(requestStream(nc, silent, { scenario: "x" }, { timeoutMs: 300 }));
      expect(late.code).toBe("deadline_exceeded");
      expect(Date.now() - t1).toBeGreaterThanOrEqual(290);
      expect(Date.now() - t1).toBeLessThan(2_000);
    } finally {
      sub.unsubscribe();
    }
  });

  it("a handler that answers after the caller gave up does not start the stream", async () => {
    const probe = new Probe();
    let returnedAt = 0;
    const late = await failure<TrellisError>(
      requestStream(
        nc,
        catalog.bytes,
        scenario(async () => {
          await sleep(600);
          returnedAt = Date.now();
          return { meta: { name: "late", parts: 0 }, body: probe.source() };
        }),
        { timeoutMs: 200 },
      ),
    );
    expect(late.code).toBe("deadline_exceeded");
    await poll(
      () => returnedAt,
      (t) => t > 0,
    );
    // Nobody listens any more: without this, the sender would fill the window into the void and
    // hold the source open for its whole idle timeout (30 s).
    expect(await settled()).toBeLessThan(1_000);
    expect(probe.produced).toBe(0);
  });

  it("a receiver that vanishes without cancelling: the sender gives up after its idle timeout", async () => {
    const probe = new Probe();
    const rc = await connect(user());
    const t0 = Date.now();
    const stream = await requestStream(
      rc,
      shortIdle.bytes,
      scenario(async () => ({ meta: { name: "v", parts: 0 }, body: probe.source() })),
    );
    // Take one chunk, then lose the connection: no abort, no grant (a break would send an abort).
    const chunks = stream.chunks[Symbol.asyncIterator]();
    expect((await chunks.next()).done).toBe(false);
    await rc.close();
    const closedAt = Date.now();
    const finishedAt = await sourceFinished(probe);
    // The sender ran out of credit right after the start, and waits SHORT_IDLE_MS from then.
    expect(finishedAt - t0).toBeGreaterThanOrEqual(SHORT_IDLE_MS);
    expect(finishedAt - closedAt).toBeLessThan(SHORT_IDLE_MS + 1_500);
    await settled(shortServer);
    // The sender stopped at the window: the first grant never came.
    expect(probe.produced).toBeLessThanOrEqual(STREAM_WINDOW + 1);
  });

  it("the sender's connection closing mid-stream: the server gives up quietly, no crash", async () => {
    const sc = await connect(user());
    const own = { bytes: streamEndpoint({ ...catalog.bytes, subject: `${prefix}.v1.closing` }) };
    const srv = serve(sc, own, handlers, {
      queue: `${prefix}-q`,
      log: pino({ level: "silent" }),
      stream: { idleTimeoutMs: SHORT_IDLE_MS },
    });
    await sc.flush();
    const probe = new Probe();
    const stream = await requestStream(
      nc,
      own.bytes,
      scenario(async () => ({ meta: { name: "c", parts: 0 }, body: probe.source() })),
    );
    const chunks = stream.chunks[Symbol.asyncIterator]();
    expect((await chunks.next()).done).toBe(false);
    await sc.close();
    // The sender waits for credit, times out, and cannot tell the receiver: that must not
    // become an unhandled rejection (which would end the service's process).
    await sourceFinished(probe);
    expect(await settled(srv)).toBeLessThan(SHORT_IDLE_MS + 1_500);
    await srv.stop();
    stream.cancel();
  });

  it("a sender that stops sending: the receiver gives up after its idle timeout and stops the sender", async () => {
    const probe = new Probe();
    const { stream } = await receiveStream(
      nc,
      catalog.bytes.subject,
      encodeJson(
        scenario(async () => ({ meta: { name: "stall", parts: 0 }, body: probe.source(Infinity, { pauseMs: 1_500 }) })),
      ),
      { timeoutMs: 2_000, idleTimeoutMs: 300 },
    );
    const t0 = Date.now();
    const err = await failure<TrellisError>(readAll(stream.chunks));
    expect(err.code).toBe("deadline_exceeded");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    expect(Date.now() - t0).toBeLessThan(1_400);
    // The abort reaches the sender when the source hands over its next chunk.
    await sourceFinished(probe);
    expect(probe.produced).toBe(1);
    await settled();
  });

  it("metadata is validated on both sides: off-contract → internal, and the sender stops", async () => {
    // The handler's metadata breaks the contract: serve refuses it before the stream starts.
    const unused = new Probe();
    const bad = await failure<TrellisError>(
      requestStream(
        nc,
        catalog.bytes,
        scenario(async () => ({ meta: { name: 5, parts: "x" } as never, body: unused.source() })),
      ),
    );
    expect(bad.code).toBe("internal");
    expect(unused.produced).toBe(0);
    expect(serverLog.some((l) => l.includes("stream metadata violates its contract"))).toBe(true);

    // The caller's contract is stricter than the sender's (a version skew): the caller refuses
    // the metadata and stops the sender.
    const stricter = streamEndpoint({ ...catalog.bytes, meta: Meta.extend({ checksum: z.string() }) });
    const probe = new Probe();
    const t0 = Date.now();
    const skew = await failure<TrellisError>(
      requestStream(
        nc,
        stricter,
        scenario(async () => ({ meta: { name: "m", parts: 0 }, body: probe.source() })),
      ),
    );
    expect(skew.code).toBe("internal");
    expect(skew.message).toContain("violates its contract");
    expect((await sourceFinished(probe)) - t0).toBeLessThan(1_000);
    expect(await settled()).toBeLessThan(1_000);

    // The request is validated before it leaves, and by the server when it comes another way.
    const invalid = await failure<TrellisError>(requestStream(nc, catalog.bytes, { scenario: "" }));
    expect(invalid.code).toBe("invalid_argument");
    const raw = await failure<TrellisError>(
      receiveStream(nc, catalog.bytes.subject, encodeJson({ scenario: "x", extra: 1 }), { timeoutMs: 2_000 }),
    );
    expect(raw.code).toBe("invalid_argument");
  });
});
