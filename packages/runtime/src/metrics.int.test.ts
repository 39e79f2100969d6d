import { tmpdir } from "node:os";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { endpoint, TrellisError } from "@trellis/contracts";
import { poll, uniqueSuffix } from "@trellis/stack/testing";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { parseMetrics } from "../../../tests/support/metrics.ts";
import { request } from "./client.ts";
import { consume, type DurableConsumer } from "./consume.ts";
import { ensureDurableConsumer, ensureStream } from "./jetstream.ts";
import { type MetricsServer, sampleConsumerMetrics, startMetricsServer } from "./metrics.ts";
import { encodeJson, type Server, serve } from "./serve.ts";

const suffix = uniqueSuffix();
const prefix = `test${suffix}`;
const catalog = {
  echo: endpoint({
    subject: `${prefix}.v1.echo`,
    request: z.object({ fail: z.enum(["no", "not_found", "bug"]) }),
    reply: z.object({ ok: z.literal(true) }),
    description: "test",
  }),
};
const echo = catalog.echo.subject;

let nc: NatsConnection;
let server: Server;
let metrics: MetricsServer;
const loops: DurableConsumer[] = [];
const streams: string[] = [];

const scrape = async () => {
  const res = await fetch(metrics.url);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseMetrics(await res.text());
};

beforeAll(async () => {
  const stack = inject("stack");
  nc = await connect({ servers: stack.natsUrl, user: stack.natsUser, pass: stack.natsPassword });
  metrics = await startMetricsServer({ port: 0, host: "127.0.0.1", service: "media" });
  server = serve(
    nc,
    catalog,
    {
      echo: ({ fail }) => {
        if (fail === "not_found") throw new TrellisError("not_found", "nothing here");
        if (fail === "bug") throw new Error("a bug");
        return { ok: true as const };
      },
    },
    { queue: `q-${suffix}`, log: pino({ level: "silent" }) },
  );
});

afterAll(async () => {
  await Promise.all(loops.map((l) => l.stop()));
  await server?.stop();
  const jsm = await jetstreamManager(nc);
  for (const s of streams) await jsm.streams.delete(s).catch(() => {});
  await nc?.close();
  await metrics?.close();
});

describe("metrics endpoint", () => {
  it("serves the default process metrics, labelled with the service, and nothing but GET /metrics", async () => {
    const m = await scrape();
    expect(m.families.get("process_cpu_user_seconds_total")).toBe("counter");
    expect(m.families.get("nodejs_eventloop_lag_seconds")).toBe("gauge");
    expect(m.has("process_resident_memory_bytes", { trellis_service: "media" })).toBe(true);
    // The free space of the temporary directory's filesystem, read at each scrape.
    const free = m.samples.find((x) => x.name === "trellis_disk_free_bytes");
    const size = m.samples.find((x) => x.name === "trellis_disk_size_bytes" && x.labels.path === free?.labels.path);
    expect(free?.labels.path).toBe(tmpdir());
    expect(free?.value).toBeGreaterThan(0);
    expect(size?.value).toBeGreaterThanOrEqual(free?.value ?? Number.POSITIVE_INFINITY);
    const other = await fetch(new URL("/", metrics.url));
    expect(other.status).toBe(404);
    const post = await fetch(metrics.url, { method: "POST" });
    expect(post.status).toBe(404);
  });

  it("answers probes on the same port: /healthz at once, /readyz from the service's readiness (503 until set)", async () => {
    const at = (path: string) => fetch(new URL(path, metrics.url));
    const live = await at("/healthz");
    expect(live.status).toBe(200);
    expect(await live.json()).toEqual({ status: "ok" });
    const starting = await at("/readyz");
    expect(starting.status).toBe(503);
    expect(await starting.json()).toEqual({ status: "starting" });
    let ready = false;
    metrics.setReadiness(async () => ({ ready, body: { status: ready ? "ok" : "degraded" } }));
    const degraded = await at("/readyz");
    expect(degraded.status).toBe(503);
    expect(await degraded.json()).toEqual({ status: "degraded" });
    ready = true;
    const ok = await at("/readyz");
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ status: "ok" });
  });

  it("counts NATS requests by subject and outcome on both sides, with latency histograms", async () => {
    const before = await scrape();
    await request(nc, catalog.echo, { fail: "no" });
    await request(nc, catalog.echo, { fail: "no" });
    await expect(request(nc, catalog.echo, { fail: "not_found" })).rejects.toMatchObject({ code: "not_found" });
    await expect(request(nc, catalog.echo, { fail: "bug" })).rejects.toMatchObject({ code: "internal" });
    // Refused before it leaves: the caller's counter says so, the server never saw it.
    await expect(request(nc, catalog.echo, { fail: "maybe" } as never)).rejects.toMatchObject({
      code: "invalid_argument",
    });
    const after = await scrape();
    const delta = (name: string, labels: Record<string, string>) =>
      after.value(name, labels) - before.value(name, labels);
    expect(delta("trellis_nats_server_requests_total", { subject: echo, code: "ok" })).toBe(2);
    expect(delta("trellis_nats_server_requests_total", { subject: echo, code: "not_found" })).toBe(1);
    expect(delta("trellis_nats_server_requests_total", { subject: echo, code: "internal" })).toBe(1);
    expect(delta("trellis_nats_server_request_duration_seconds_count", { subject: echo })).toBe(4);
    expect(delta("trellis_nats_client_requests_total", { subject: echo, code: "ok" })).toBe(2);
    expect(delta("trellis_nats_client_requests_total", { subject: echo, code: "invalid_argument" })).toBe(1);
    expect(delta("trellis_nats_client_request_duration_seconds_count", { subject: echo })).toBe(5);
    // Every request took less than 30 s: the +Inf bucket equals the count.
    expect(after.value("trellis_nats_server_request_duration_seconds_bucket", { subject: echo, le: "30" })).toBe(
      after.value("trellis_nats_server_request_duration_seconds_count", { subject: echo }),
    );
  });

  it("samples a durable consumer's pending and redelivered counts, and counts settled messages by outcome", async () => {
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    const stream = `T_METRICS_${suffix}`;
    const subject = `test.metrics.${suffix}`;
    const durable = `m-${suffix}`;
    streams.push(stream);
    await ensureStream(jsm, { name: stream, subjects: [subject] });
    await ensureDurableConsumer(jsm, stream, { durable_name: durable });
    for (let i = 0; i < 5; i++) await js.publish(subject, encodeJson({ n: i }));

    // Pending: what the stream holds that the consumer has not been given yet (the sampler
    // `consume` and telemetry's readings consumer use).
    const labels = { stream, consumer: durable };
    const stopSampling = sampleConsumerMetrics(await js.consumers.get(stream, durable), labels, { everyMs: 50 });
    const waiting = await poll(scrape, (m) => m.value("trellis_jetstream_consumer_pending", labels) === 5, {
      timeoutMs: 5_000,
      intervalMs: 50,
    });
    stopSampling();
    expect(waiting.value.value("trellis_jetstream_consumer_pending", labels)).toBe(5);

    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let failedOnce = false;
    const loop = await consume(nc, {
      service: "media",
      stream,
      consumer: durable,
      schema: z.object({ n: z.number() }),
      metricsSampleMs: 50,
      retry: { delayMs: 50 },
      handler: async ({ n }) => {
        if (n === 0 && !failedOnce) {
          failedOnce = true;
          throw new Error("retry me");
        }
        await gate;
      },
    });
    loops.push(loop);
    // Message 0 failed once and came back; it waits, unacked, behind the one in hand.
    const again = await poll(scrape, (m) => m.value("trellis_jetstream_consumer_redelivered", labels) >= 1, {
      timeoutMs: 5_000,
      intervalMs: 50,
    }).finally(release);
    expect(again.value.value("trellis_jetstream_consumer_redelivered", labels)).toBe(1);
    expect(again.value.value("trellis_jetstream_consumer_ack_pending", labels)).toBe(5);
    expect(again.value.value("trellis_jetstream_messages_total", { ...labels, outcome: "nak" })).toBe(1);
    const drained = await poll(
      scrape,
      (m) =>
        m.value("trellis_jetstream_messages_total", { ...labels, outcome: "ack" }) === 5 &&
        m.value("trellis_jetstream_consumer_pending", labels) === 0 &&
        m.value("trellis_jetstream_consumer_ack_pending", labels) === 0,
      { timeoutMs: 10_000, intervalMs: 50 },
    );
    const m = drained.value;
    expect(m.value("trellis_jetstream_messages_total", { ...labels, outcome: "ack" })).toBe(5);
    expect(m.value("trellis_jetstream_consumer_pending", labels)).toBe(0);
    expect(m.value("trellis_jetstream_message_duration_seconds_count", labels)).toBe(6);
  });
});
