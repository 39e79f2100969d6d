/**
 * Trace context over a real NATS server, in process with an in-memory exporter: `request` →
 * `serve` (plain, stream and upload endpoints), the event publisher → `consume`, job payload
 * carriers, and `trace_id` on log lines. Server and client share this process, but the server's
 * parent can only come from the message's headers (its context is extracted onto an empty one).
 * Off (no SDK started), nothing is added to the messages.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type MsgHdrs, type NatsConnection } from "@nats-io/transport-node";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace";
import { endpoint, streamEndpoint, TraceHeaders, TrellisError, uploadEndpoint } from "@trellis/contracts";
import { poll, uniqueSuffix } from "@trellis/stack/testing";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { readAll } from "./byte-stream.ts";
import { request, requestStream, requestUpload } from "./client.ts";
import { tracingConfigSchema } from "./config.ts";
import { consume, type DurableConsumer } from "./consume.ts";
import { eventPublisher } from "./events.ts";
import { ensureDurableConsumer, ensureStream } from "./jetstream.ts";
import { createLogger } from "./logger.ts";
import { type Server, serve } from "./serve.ts";
import { contextFromCarrier, inSpan, traceCarrier, tracingEnabled } from "./tracing.ts";
import { startTracing, type Tracing } from "./tracing-sdk.ts";

const stack = inject("stack");
const prefix = `trace${uniqueSuffix()}`;
const catalog = {
  health: endpoint({
    subject: `${prefix}.v1.health`,
    request: z.object({}),
    reply: z.object({ ok: z.boolean() }),
    description: "test",
  }),
  greet: endpoint({
    subject: `${prefix}.v1.greet`,
    request: z.object({ name: z.string() }),
    reply: z.object({ greeting: z.string() }),
    description: "test",
  }),
  missing: endpoint({
    subject: `${prefix}.v1.missing`,
    request: z.object({}),
    reply: z.object({}),
    description: "test",
  }),
  download: streamEndpoint({
    subject: `${prefix}.v1.download`,
    request: z.object({ chunks: z.number() }),
    meta: z.object({ chunks: z.number() }),
    contentType: "application/octet-stream",
    description: "test",
  }),
  upload: uploadEndpoint({
    subject: `${prefix}.v1.upload`,
    request: z.object({}),
    reply: z.object({ bytes: z.number() }),
    description: "test",
  }),
};

let nc: NatsConnection;
let server: Server;
/** The headers each handler received, by handler name. */
const received: Record<string, MsgHdrs | undefined> = {};
const lines: Record<string, unknown>[] = [];
const log = createLogger({
  service: "test",
  instance: "test-1",
  level: "debug",
  traceIds: true,
  destination: { write: (l: string) => void lines.push(JSON.parse(l)) },
});

beforeAll(async () => {
  nc = await connect({ servers: stack.natsUrl, user: stack.natsUser, pass: stack.natsPassword });
  server = serve(
    nc,
    catalog,
    {
      health: () => ({ ok: true }),
      greet: ({ name }, ctx) => {
        received.greet = ctx.headers;
        ctx.log.info({ name }, "greeted");
        return { greeting: `hello ${name}` };
      },
      missing: () => {
        throw new TrellisError("not_found", "nothing here");
      },
      download: async ({ chunks }, ctx) => {
        received.download = ctx.headers;
        return { meta: { chunks }, body: Array.from({ length: chunks }, () => new Uint8Array(2_000)) };
      },
      upload: async (_req, ctx) => {
        received.upload = ctx.headers;
        return { bytes: (await readAll(ctx.upload)).length };
      },
    },
    { queue: prefix, log, stream: { chunkBytes: 1_024 } },
  );
});

afterAll(async () => {
  await server?.stop();
  await nc?.close();
});

describe("tracing off", () => {
  it("sends no trace context and records nothing", async () => {
    expect(tracingEnabled()).toBe(false);
    await inSpan("not recorded", { kind: SpanKind.INTERNAL }, async () => {
      await request(nc, catalog.greet, { name: "off" });
    });
    expect(received.greet?.has(TraceHeaders.traceparent)).toBe(false);
    expect(traceCarrier()).toBeUndefined();
    const line = lines.find((l) => l.msg === "greeted" && l.name === "off");
    expect(line).toBeDefined();
    expect(line?.trace_id).toBeUndefined();
  });
});

describe("tracing on", () => {
  const exporter = new InMemorySpanExporter();
  let tracing: Tracing;
  const streams: string[] = [];
  const consumers: DurableConsumer[] = [];

  beforeAll(() => {
    const config = tracingConfigSchema.parse({
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318",
      OTEL_BSP_SCHEDULE_DELAY: "10",
    });
    tracing = startTracing({ service: "test", instance: "test-1", version: "0.0.0", config, log, exporter });
  });

  afterAll(async () => {
    await Promise.all(consumers.map((c) => c.stop()));
    const jsm = await jetstreamManager(nc);
    for (const s of streams) await jsm.streams.delete(s).catch(() => {});
    await tracing?.shutdown();
  });

  /** The finished spans so far (flushed from the batch processor). */
  const finished = async (): Promise<ReadableSpan[]> => {
    await tracing.flush();
    return exporter.getFinishedSpans();
  };
  const named = (spans: ReadableSpan[], name: string, kind: SpanKind) => {
    const found = spans.find((s) => s.name === name && s.kind === kind);
    expect(found, `${name} (kind ${kind}) among ${spans.map((s) => `${s.name}/${s.kind}`).join(", ")}`).toBeDefined();
    return found as ReadableSpan;
  };
  const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;

  it("makes the server span of a request the child of its client span, through the headers", async () => {
    let rootTrace = "";
    let rootSpan = "";
    await inSpan("caller", { kind: SpanKind.INTERNAL }, async () => {
      await request(nc, catalog.greet, { name: "on" }, { requestId: "req-on" });
    });
    const spans = await finished();
    const root = named(spans, "caller", SpanKind.INTERNAL);
    rootTrace = root.spanContext().traceId;
    rootSpan = root.spanContext().spanId;
    const client = named(spans, catalog.greet.subject, SpanKind.CLIENT);
    const served = named(spans, catalog.greet.subject, SpanKind.SERVER);
    expect(client.spanContext().traceId).toBe(rootTrace);
    expect(parentOf(client)).toBe(rootSpan);
    expect(served.spanContext().traceId).toBe(rootTrace);
    expect(parentOf(served)).toBe(client.spanContext().spanId);
    expect(served.attributes["trellis.request_id"]).toBe("req-on");
    expect(served.attributes["messaging.system"]).toBe("nats");
    expect(received.greet?.get(TraceHeaders.traceparent)).toBe(`00-${rootTrace}-${client.spanContext().spanId}-01`);
    // The handler's log line carries the server span's ids; the request id stays.
    const line = lines.find((l) => l.msg === "greeted" && l.name === "on");
    expect(line?.trace_id).toBe(rootTrace);
    expect(line?.span_id).toBe(served.spanContext().spanId);
    expect(line?.reqId).toBe("req-on");
  });

  it("fails the client span of a refused request, not the server span (the caller's mistake)", async () => {
    exporter.reset();
    const err = await inSpan("caller", { kind: SpanKind.INTERNAL }, () => request(nc, catalog.missing, {})).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TrellisError);
    const spans = await finished();
    const client = named(spans, catalog.missing.subject, SpanKind.CLIENT);
    const served = named(spans, catalog.missing.subject, SpanKind.SERVER);
    expect(client.status.code).toBe(SpanStatusCode.ERROR);
    expect(client.attributes["trellis.error.code"]).toBe("not_found");
    expect(served.status.code).toBe(SpanStatusCode.UNSET);
    expect(served.attributes["trellis.error.code"]).toBe("not_found");
    expect(parentOf(served)).toBe(client.spanContext().spanId);
  });

  it("carries the context on byte streams both ways; a download's client span ends with its last chunk", async () => {
    exporter.reset();
    await inSpan("caller", { kind: SpanKind.INTERNAL }, async () => {
      const incoming = await requestStream(nc, catalog.download, { chunks: 5 });
      // Not read yet: the client span is still open.
      expect((await finished()).some((s) => s.kind === SpanKind.CLIENT)).toBe(false);
      expect((await readAll(incoming.chunks)).length).toBe(10_000);
      const reply = await requestUpload(nc, catalog.upload, {}, [new Uint8Array(3_000)]);
      expect(reply.bytes).toBe(3_000);
    });
    const spans = await finished();
    for (const e of [catalog.download, catalog.upload]) {
      const client = named(spans, e.subject, SpanKind.CLIENT);
      expect(parentOf(named(spans, e.subject, SpanKind.SERVER))).toBe(client.spanContext().spanId);
    }
    expect(received.download?.has(TraceHeaders.traceparent)).toBe(true);
    expect(received.upload?.has(TraceHeaders.traceparent)).toBe(true);
  });

  it("starts no trace for a call outside any, nor for health probes; a server span of an untraced call is a root", async () => {
    exporter.reset();
    await request(nc, catalog.greet, { name: "outside" });
    await request(nc, catalog.health, {});
    await inSpan("prober", { kind: SpanKind.INTERNAL }, () => request(nc, catalog.health, {}));
    const spans = await finished();
    expect(spans.filter((s) => s.kind === SpanKind.CLIENT && s.name === catalog.greet.subject)).toEqual([]);
    expect(received.greet?.has(TraceHeaders.traceparent)).toBe(false);
    const served = named(spans, catalog.greet.subject, SpanKind.SERVER);
    expect(served.parentSpanContext).toBeUndefined();
    expect(spans.filter((s) => s.kind === SpanKind.SERVER && s.name === catalog.health.subject)).toEqual([]);
  });

  it("makes a durable consumer's span the child of the event's producer span", async () => {
    exporter.reset();
    const suffix = uniqueSuffix();
    const stream = `T_TRACE_${suffix}`;
    const subject = `${prefix}.events.${suffix}`;
    streams.push(stream);
    const jsm = await jetstreamManager(nc);
    await ensureStream(jsm, { name: stream, subjects: [subject] });
    await ensureDurableConsumer(jsm, stream, { durable_name: `c-${suffix}` });
    const handled: { traceId?: string }[] = [];
    consumers.push(
      await consume(nc, {
        service: "media",
        stream,
        consumer: `c-${suffix}`,
        schema: z.object({ n: z.number() }),
        log,
        handler: (_payload, ctx) => {
          ctx.log.info("consumed");
          handled.push({});
        },
      }),
    );
    const event = { subject, schema: z.object({ n: z.number() }) };
    await inSpan("emitter", { kind: SpanKind.INTERNAL }, () =>
      eventPublisher(nc).publish(event, { n: 1 }, `id-${suffix}`),
    );
    await poll(
      () => handled.length,
      (n) => n === 1,
      { timeoutMs: 5_000 },
    );
    const { value: spans } = await poll(finished, (s) => s.some((x) => x.kind === SpanKind.CONSUMER), {
      timeoutMs: 5_000,
    });
    const emitter = named(spans, "emitter", SpanKind.INTERNAL);
    const producer = named(spans, `publish ${subject}`, SpanKind.PRODUCER);
    const consumer = named(spans, `process ${subject}`, SpanKind.CONSUMER);
    expect(parentOf(producer)).toBe(emitter.spanContext().spanId);
    expect(parentOf(consumer)).toBe(producer.spanContext().spanId);
    expect(consumer.spanContext().traceId).toBe(emitter.spanContext().traceId);
    expect(lines.find((l) => l.msg === "consumed")?.trace_id).toBe(emitter.spanContext().traceId);
  });

  it("carries the context in a payload (a job's data) to work started later", async () => {
    exporter.reset();
    let carried: ReturnType<typeof traceCarrier>;
    await inSpan("queued", { kind: SpanKind.PRODUCER }, async () => {
      carried = traceCarrier();
    });
    expect(carried?.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    await inSpan("worked", { kind: SpanKind.CONSUMER, parent: contextFromCarrier(carried) }, async () => {});
    const spans = await finished();
    const queued = named(spans, "queued", SpanKind.PRODUCER);
    const worked = named(spans, "worked", SpanKind.CONSUMER);
    expect(parentOf(worked)).toBe(queued.spanContext().spanId);
    expect(worked.spanContext().traceId).toBe(queued.spanContext().traceId);
  });
});
