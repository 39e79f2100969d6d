/**
 * Uploads over NATS (`requestUpload` → `serve` with an upload endpoint) against the real server:
 * bytes arrive intact whatever their size, at the handler's pace, and every way an upload can
 * stop early reaches the other end.
 */
import { createHash, randomBytes } from "node:crypto";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { TrellisError, uploadEndpoint } from "@trellis/contracts";
import { failure, poll, uniqueSuffix } from "@trellis/stack/testing";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { Probe } from "../test/chunk-probe.ts";
import { STREAM_CHUNK_BYTES, STREAM_WINDOW } from "./byte-stream.ts";
import { requestUpload } from "./client.ts";
import { type Server, serve, type UploadContext } from "./serve.ts";

const prefix = `uptest${uniqueSuffix()}`;
const Stored = z.object({ bytes: z.number().int(), sha256: z.string(), chunks: z.number().int() });
const catalog = {
  put: uploadEndpoint({
    subject: `${prefix}.v1.put`,
    request: z.object({ scenario: z.string().min(1) }).strict(),
    reply: Stored,
    description: "test",
  }),
};

type Scenario = (ctx: UploadContext) => Promise<z.input<typeof Stored>>;
const scenarios = new Map<string, Scenario>();
let count = 0;
const scenario = (fn: Scenario) => {
  const name = `s${++count}`;
  scenarios.set(name, fn);
  return { scenario: name };
};

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Reads the whole upload, hashing it; `pauseMs` between chunks makes a slow handler. */
async function store(upload: AsyncIterable<Uint8Array>, pauseMs = 0, onChunk?: () => void) {
  const hash = createHash("sha256");
  let bytes = 0;
  let chunks = 0;
  for await (const c of upload) {
    hash.update(c);
    bytes += c.length;
    chunks += 1;
    onChunk?.();
    if (pauseMs) await sleep(pauseMs);
  }
  return { bytes, sha256: hash.digest("hex"), chunks };
}

let nc: NatsConnection;
let caller: NatsConnection;
let server: Server;

beforeAll(async () => {
  const opts = { servers: inject("stack").natsUrl, user: inject("stack").natsUser, pass: inject("stack").natsPassword };
  nc = await connect(opts);
  caller = await connect(opts);
  server = serve(
    nc,
    catalog,
    {
      put: async ({ scenario: name }, ctx) => {
        const fn = scenarios.get(name);
        if (!fn) throw new TrellisError("not_found", "no such scenario");
        return fn(ctx);
      },
    },
    { queue: `${prefix}-q`, log: pino({ level: "silent" }), stream: { idleTimeoutMs: 2_000 } },
  );
  await nc.flush();
});

afterAll(async () => {
  await server?.stop();
  await nc?.close();
  await caller?.close();
});

describe("uploads over NATS", () => {
  it("20 MiB arrive byte-identical, in chunks no larger than a stream chunk", async () => {
    const data = randomBytes(20 * 1024 * 1024);
    let largest = 0;
    const payload = scenario(async ({ upload }) => {
      const seen = (async function* () {
        for await (const c of upload) {
          largest = Math.max(largest, c.length);
          yield c;
        }
      })();
      return store(seen);
    });
    // Odd-sized pieces, some larger than the server's max_payload.
    const pieces = (function* () {
      for (let at = 0; at < data.length; ) {
        const n = Math.min(data.length - at, [1, 4_097, 9 * 1024 * 1024, 300_001][at % 4] ?? 1);
        yield data.subarray(at, at + n);
        at += n;
      }
    })();
    const stored = await requestUpload(caller, catalog.put, payload, pieces);
    expect(stored.bytes).toBe(data.length);
    expect(stored.sha256).toBe(createHash("sha256").update(data).digest("hex"));
    expect(largest).toBeLessThanOrEqual(STREAM_CHUNK_BYTES);
  });

  it("a slow handler slows the sender: it is never more than a window ahead", async () => {
    const source = new Probe();
    const payload = scenario(async ({ upload }) => store(upload, 30, () => (source.consumed += 1)));
    const stored = await requestUpload(caller, catalog.put, payload, source.source(40));
    expect(stored.chunks).toBe(40);
    expect(source.maxAhead).toBeLessThanOrEqual(STREAM_WINDOW + 1);
    expect(source.maxAhead).toBeGreaterThanOrEqual(STREAM_WINDOW - 1);
  });

  it("a handler that refuses before reading: the caller gets its error and sends (almost) nothing", async () => {
    const source = new Probe();
    const payload = scenario(async () => {
      throw new TrellisError("forbidden", "not yours");
    });
    const err = await failure<TrellisError>(requestUpload(caller, catalog.put, payload, source.source(1_000)));
    expect(err.code).toBe("forbidden");
    expect(err.message).toBe("not yours");
    expect(source.produced).toBeLessThanOrEqual(STREAM_WINDOW + 1);
  });

  it("a handler that stops reading midway (too large): the caller gets 413's code, its source stops", async () => {
    const source = new Probe();
    const payload = scenario(async ({ upload }) => {
      let bytes = 0;
      for await (const c of upload) {
        bytes += c.length;
        if (bytes > 3 * STREAM_CHUNK_BYTES) throw new TrellisError("payload_too_large", "over the limit");
      }
      return { bytes, sha256: "", chunks: 0 };
    });
    const err = await failure<TrellisError>(requestUpload(caller, catalog.put, payload, source.source(1_000)));
    expect(err.code).toBe("payload_too_large");
    expect(source.finishedAt).toBeDefined();
    expect(source.produced).toBeLessThan(4 + 2 * STREAM_WINDOW);
  });

  it("a source that fails (the client went away): the handler's bytes fail with cancelled, nothing is left in flight", async () => {
    let seen: TrellisError | undefined;
    const payload = scenario(async ({ upload }) => {
      try {
        return await store(upload);
      } catch (err) {
        seen = err as TrellisError;
        throw err;
      }
    });
    const source = new Probe();
    const gone = new Error("socket hang up");
    const err = await failure(
      requestUpload(caller, catalog.put, payload, source.source(100, { fail: { at: 5, error: gone } })),
    );
    expect(err).toBe(gone);
    const { value } = await poll(
      () => seen,
      (v) => v !== undefined,
      { timeoutMs: 3_000 },
    );
    expect(value?.code).toBe("cancelled");
    expect(
      (
        await poll(
          () => server.inFlight,
          (n) => n === 0,
          { timeoutMs: 3_000 },
        )
      ).value,
    ).toBe(0);
  });

  it("a caller that vanishes mid-upload: the handler's bytes fail after the idle timeout", async () => {
    let seen: TrellisError | undefined;
    const payload = scenario(async ({ upload }) => {
      try {
        return await store(upload);
      } catch (err) {
        seen = err as TrellisError;
        throw err;
      }
    });
    const doomed = await connect({
      servers: inject("stack").natsUrl,
      user: inject("stack").natsUser,
      pass: inject("stack").natsPassword,
    });
    // Its source stalls after one piece; its connection closes meanwhile (a gateway that died).
    void requestUpload(
      doomed,
      catalog.put,
      payload,
      (async function* () {
        yield new Uint8Array(10);
        await sleep(4_000);
      })(),
    ).catch(() => undefined);
    await sleep(200);
    await doomed.close();
    const { value } = await poll(
      () => seen,
      (v) => v !== undefined,
      { timeoutMs: 5_000 },
    );
    expect(value?.code).toBe("deadline_exceeded");
  });

  it("a service that dies mid-upload: the caller fails with unavailable within about a second, not after its timeouts", async () => {
    const dying = await connect({
      servers: inject("stack").natsUrl,
      user: inject("stack").natsUser,
      pass: inject("stack").natsPassword,
    });
    const endpoint = uploadEndpoint({ ...catalog.put, subject: `${prefix}.v1.dying` });
    let firstChunk: () => void = () => {};
    const reading = new Promise<void>((resolve) => {
      firstChunk = resolve;
    });
    // A handler that takes the first chunk, then its process "dies" (the connection goes away).
    serve(
      dying,
      { put: endpoint },
      {
        put: async (_req, { upload }) => {
          for await (const _ of upload) {
            firstChunk();
            await sleep(5_000);
          }
          return { bytes: 0, sha256: "", chunks: 0 };
        },
      },
      { queue: `${prefix}-dying`, log: pino({ level: "silent" }) },
    );
    await dying.flush();
    const source = (async function* () {
      for (let i = 0; i < 100; i++) {
        yield new Uint8Array(STREAM_CHUNK_BYTES);
        await sleep(100);
      }
    })();
    const outcome = failure<TrellisError>(
      requestUpload(caller, endpoint, { scenario: "x" }, source, { timeoutMs: 20_000 }),
    );
    await reading;
    const diedAt = Date.now();
    await dying.close();
    const err = await outcome;
    expect(err.code).toBe("unavailable");
    expect(Date.now() - diedAt).toBeLessThan(3_000);
  });

  it("refusals before any byte: an invalid request, no responder", async () => {
    const invalid = await failure<TrellisError>(
      requestUpload(caller, catalog.put, { scenario: "" }, [new Uint8Array(1)]),
    );
    expect(invalid.code).toBe("invalid_argument");
    const nobody = uploadEndpoint({ ...catalog.put, subject: `${prefix}.v1.nobody` });
    const started = Date.now();
    const unavailable = await failure<TrellisError>(
      requestUpload(caller, nobody, { scenario: "x" }, [new Uint8Array(1)]),
    );
    expect(unavailable.code).toBe("unavailable");
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});
