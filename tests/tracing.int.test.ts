/**
 * Traces across HTTP, NATS and the job queue, end to end: the gateway, auth, media and analysis
 * run as real processes with tracing on, exporting by OTLP/HTTP (JSON) to a receiver in this test,
 * as they would to a collector. One `POST /api/v2/analyses` must come back as one trace: the
 * gateway's HTTP span, its NATS call, analysis's server span and the job it queued (BullMQ, the
 * context carried in the job's data), the worker's span and each step's, media's server spans for
 * the worker's calls (a request, a byte stream, uploads), and MongoDB and Redis commands, all
 * joined parent to child. Log lines written inside carry the same trace id. Device readings are
 * stored in rounds, a trace each, linked to the traces of the HTTP submissions they hold; a
 * client's own `traceparent` is continued by the gateway.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { type OtlpReceiver, poll, type ReceivedSpan, SPAN_KIND, startOtlpReceiver } from "@trellis/stack/testing";
import { useFileStack } from "@trellis/stack/vitest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { factsVtt, uploadVideo } from "./support/analysis.ts";
import { ADMIN, createMonitor, http, type Platform, registerUser, startPlatform } from "./support/platform.ts";
import { testVideo } from "./support/video.ts";

const stack = useFileStack();
let receiver: OtlpReceiver;
let platform: Platform;

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  platform = await startPlatform({
    stack,
    services: ["auth", "media", "analysis", "telemetry"],
    extraEnv: {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_BSP_SCHEDULE_DELAY: "100",
      WORKER_CONCURRENCY: "1",
    },
  });
}, 120_000);

afterAll(async () => {
  await platform?.stop();
  await receiver?.close();
});

const STEPS = ["transcript", "keyframes", "questions", "save"].map((s) => `analysis step ${s}`);

/** Spans whose parent is not in the trace (the root has none): empty when the trace is one tree. */
const orphansOf = (spans: ReceivedSpan[]) => {
  const ids = new Set(spans.map((s) => s.spanId));
  return spans.filter((s) => s.parentSpanId !== "" && !ids.has(s.parentSpanId));
};

describe("tracing", () => {
  it("follows POST /api/v2/analyses through the gateway, analysis, its job's steps and media as one trace", async () => {
    const base = platform.base;
    const alice = await registerUser(base, platform.suffix, "alice");
    const videoId = await uploadVideo(base, alice, testVideo({ seconds: 4 }), factsVtt(1));
    const requestId = `trace-test-${randomUUID()}`;
    const started = await http(base, "POST", "/api/v2/analyses", {
      bearer: alice.bearer,
      headers: { "x-request-id": requestId },
      json: { video_id: videoId, title: "Traced", num_questions: 3, keyframe_interval: 2 },
    });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const done = await poll(
      () => http(base, "GET", `/api/v2/analyses/${started.body.id}`, { bearer: alice.bearer }),
      (r) => r.body?.state === "completed" || r.body?.state === "failed",
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    expect(done.value.body.state, JSON.stringify(done.value.body)).toBe("completed");

    // The gateway's HTTP span names the trace: the one with our request id.
    const root = await poll(
      () =>
        receiver.spans.find(
          (s) =>
            s.service === "gateway" && s.kind === SPAN_KIND.server && s.attributes["trellis.request_id"] === requestId,
        ),
      (s) => s !== undefined,
      { timeoutMs: 10_000, intervalMs: 100 },
    );
    const http_ = root.value as ReceivedSpan;
    expect(http_, "the gateway's HTTP span").toBeDefined();
    expect(http_.name).toBe("POST /api/v2/analyses");
    expect(http_.parentSpanId).toBe("");
    const traceId = http_.traceId;

    // Spans keep arriving in batches until the job's last step: wait for the whole tree.
    const inTrace = () => receiver.spans.filter((s) => s.traceId === traceId);
    const complete = (spans: ReceivedSpan[]) =>
      STEPS.every((n) => spans.some((s) => s.name === n)) && orphansOf(spans).length === 0;
    const { value: spans } = await poll(inTrace, complete, { timeoutMs: 15_000, intervalMs: 100 });
    const names = (service: string) => [...new Set(spans.filter((s) => s.service === service).map((s) => s.name))];
    const summary = JSON.stringify(
      Object.fromEntries(["gateway", "analysis", "media", "auth"].map((s) => [s, names(s)])),
      null,
      1,
    );

    expect(orphansOf(spans), `every span's parent is in the trace:\n${summary}`).toEqual([]);
    const one = (service: string, name: string, kind: number) => {
      const found = spans.find((s) => s.service === service && s.name === name && s.kind === kind);
      expect(found, `${service}: ${name} (kind ${kind}) in\n${summary}`).toBeDefined();
      return found as ReceivedSpan;
    };
    // gateway → analysis over NATS: the client span is the server span's parent.
    const call = one("gateway", "analysis.v1.analyses.start", SPAN_KIND.client);
    const served = one("analysis", "analysis.v1.analyses.start", SPAN_KIND.server);
    expect(served.parentSpanId).toBe(call.spanId);
    expect(served.attributes["trellis.request_id"]).toBe(requestId);
    // analysis → the queue → its worker: the job's data carried the producer span's context.
    const queued = one("analysis", "publish analyze-video", SPAN_KIND.producer);
    const job = one("analysis", "process analyze-video", SPAN_KIND.consumer);
    expect(job.parentSpanId).toBe(queued.spanId);
    for (const step of STEPS) expect(one("analysis", step, SPAN_KIND.internal).parentSpanId).toBe(job.spanId);
    // The worker's calls to media: a request, the video's bytes as a stream, keyframes uploaded.
    for (const subject of ["media.v1.videos.get", "media.v1.videos.read", "media.v1.pictures.upload"]) {
      const client = one("analysis", subject, SPAN_KIND.client);
      expect(one("media", subject, SPAN_KIND.server).parentSpanId).toBe(client.spanId);
    }
    // Libraries we do not own the call sites of: MongoDB in both services, Redis in analysis.
    const scopes = (service: string) => new Set(spans.filter((s) => s.service === service).map((s) => s.scope));
    expect([...scopes("analysis")]).toEqual(
      expect.arrayContaining(["@opentelemetry/instrumentation-mongodb", "@opentelemetry/instrumentation-ioredis"]),
    );
    expect([...scopes("media")]).toContain("@opentelemetry/instrumentation-mongodb");
    expect(spans.filter((s) => s.status === 2).map((s) => s.name)).toEqual([]);

    // Logs inside the trace carry its id, next to the request id that stays.
    const analysis = platform.procs.find((p) => p.name === "analysis");
    const completedLine = analysis?.logs.find(
      (l) => l.msg === "analysis completed" && l.analysisId === started.body.id,
    );
    expect(completedLine?.trace_id).toBe(traceId);
    const servedLine = analysis?.logs.find((l) => l.reqId === requestId && l.trace_id !== undefined);
    expect(servedLine?.trace_id).toBe(traceId);
    const gateway = platform.procs.find((p) => p.name === "gateway");
    const accessLine = gateway?.logs.find((l) => l.reqId === requestId && l.msg === "request completed");
    expect(accessLine?.trace_id).toBe(traceId);
  });

  it("stores a submitted reading in an ingest round of its own trace, linked to the submission's trace", async () => {
    const base = platform.base;
    const owner = await registerUser(base, platform.suffix, "grower");
    const admin = await http(base, "POST", "/api/v2/auth/token", {
      form: { grant_type: "password", username: ADMIN.username, password: ADMIN.password },
    });
    expect(admin.status).toBe(200);
    const monitor = await createMonitor(base, admin.body.access_token, owner.id);
    const requestId = `trace-reading-${randomUUID()}`;
    // The client traces too: the gateway continues its trace (W3C traceparent on the HTTP request).
    const clientTrace = randomBytes(16).toString("hex");
    const clientSpan = randomBytes(8).toString("hex");
    const res = await http(base, "POST", `/api/v2/monitors/${monitor.id}/readings`, {
      bearer: monitor.token,
      headers: { "x-request-id": requestId, traceparent: `00-${clientTrace}-${clientSpan}-01` },
      json: { ph: 6.1 },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);

    const { value: submitted } = await poll(
      () =>
        receiver.spans.find(
          (s) =>
            s.service === "gateway" && s.kind === SPAN_KIND.server && s.attributes["trellis.request_id"] === requestId,
        ),
      (s) => s !== undefined,
      { timeoutMs: 10_000, intervalMs: 100 },
    );
    expect(submitted, "the submission's HTTP span").toBeDefined();
    const traceId = (submitted as ReceivedSpan).traceId;
    expect(traceId).toBe(clientTrace);
    expect(submitted?.parentSpanId).toBe(clientSpan);
    expect(submitted?.name).toBe("POST /api/v2/monitors/:id/readings");
    const { value: round } = await poll(
      () =>
        receiver.spans.find((s) => s.name === "telemetry ingest round" && s.links.some((l) => l.traceId === traceId)),
      (s) => s !== undefined,
      { timeoutMs: 10_000, intervalMs: 100 },
    );
    expect(round, "an ingest round linked to the submission").toBeDefined();
    const r = round as ReceivedSpan;
    expect(r.service).toBe("telemetry");
    expect(r.parentSpanId).toBe("");
    expect(r.traceId).not.toBe(traceId);
    // The link points at the span that published the reading: telemetry's server span of the request.
    const { value: served } = await poll(
      () =>
        receiver.spans.find((s) => s.traceId === traceId && s.service === "telemetry" && s.kind === SPAN_KIND.server),
      (s) => s !== undefined,
      { timeoutMs: 5_000, intervalMs: 100 },
    );
    expect(served, "telemetry's server span of the submission").toBeDefined();
    expect(r.links.map((l) => l.spanId)).toContain(served?.spanId);
    // The round's writes are its children.
    const { value: writes } = await poll(
      () => receiver.spans.filter((s) => s.parentSpanId === r.spanId),
      (w) => w.some((s) => s.scope === "@opentelemetry/instrumentation-mongodb"),
      { timeoutMs: 5_000, intervalMs: 100 },
    );
    // The readings' insert (into whichever collection the readings layout uses).
    expect(writes.map((s) => s.name)).toEqual(expect.arrayContaining([expect.stringMatching(/^insert reading/)]));
  });
});
