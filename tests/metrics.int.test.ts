/**
 * Prometheus metrics of every service (issue 19): each process serves its own endpoint on its own
 * port (never the gateway's public one), and the metrics named there move under load: HTTP
 * requests by route template, NATS requests by subject and code, ingest rounds and readings
 * stored, the readings consumer's pending count, GridFS bytes, BullMQ job states and durations,
 * SSE clients.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { deviceSubjects, READINGS_CONSUMER, READINGS_STREAM } from "@trellis/contracts";
import { poll, type ServiceProcess, startService } from "@trellis/stack/testing";
import { useFileStack } from "@trellis/stack/vitest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { factsVtt, uploadVideo } from "./support/analysis.ts";
import { addMonitor, type DeviceCredentials } from "./support/devices.ts";
import { metricNamesIn, metricsUrlOf, type Scrape, scrape } from "./support/metrics.ts";
import { ADMIN, http, type Platform, registerUser, startPlatform } from "./support/platform.ts";
import { testVideo } from "./support/video.ts";

const SERVICES = ["auth", "telemetry", "media", "analysis"] as const;

const stack = useFileStack();
let platform: Platform;
let base: string;
let adminBearer: string;
let alice: { id: string; bearer: string };
let device: DeviceCredentials;
let deviceNc: NatsConnection;
const urls = new Map<string, string>();

const procOf = (name: string): ServiceProcess => {
  const proc = platform.procs.find((p) => p.name === name);
  if (!proc) throw new Error(`no ${name} process`);
  return proc;
};
const metricsOf = (service: string): Promise<Scrape> => scrape(urls.get(service) as string);
/** Scrapes until `ok` holds (metrics of work done asynchronously, e.g. a consumer's). */
const until = async (service: string, ok: (m: Scrape) => boolean, timeoutMs = 20_000): Promise<Scrape> => {
  const { value } = await poll(() => metricsOf(service), ok, { timeoutMs, intervalMs: 100 });
  return value;
};

beforeAll(async () => {
  platform = await startPlatform({
    stack,
    services: ["auth", "telemetry"],
    // Every process picks a free port of its own and logs it.
    extraEnv: { METRICS_PORT: "0" },
  });
  // The other two one after the other: five processes starting at once on a busy two-core
  // machine can miss the harness's start-up timeout.
  for (const name of ["media", "analysis"]) platform.procs.push(await startService(name, platform.env(name)));
  base = platform.base;
  for (const name of [...SERVICES, "gateway"]) urls.set(name, metricsUrlOf(procOf(name)));
  const token = await http(base, "POST", "/api/v2/auth/token", {
    form: { grant_type: "password", username: ADMIN.username, password: ADMIN.password },
  });
  expect(token.status).toBe(200);
  adminBearer = token.body.access_token;
  alice = await registerUser(base, platform.suffix, "alice");
  device = await addMonitor(base, adminBearer, alice.id);
  // Readings published on the device's subject by a service connection (the device's own login
  // goes through the auth callout, which other tests cover).
  deviceNc = await connect({ servers: stack.natsUrl, user: stack.natsUser, pass: stack.natsPassword });
}, 120_000);

afterAll(async () => {
  await deviceNc?.close();
  await platform?.stop();
});

describe("metrics endpoints", () => {
  it("every service serves its own endpoint with process metrics labelled by service; the public port has none", async () => {
    const ports = new Set<string>();
    for (const name of [...SERVICES, "gateway"]) {
      const url = new URL(urls.get(name) as string);
      expect(url.hostname).toBe("127.0.0.1");
      ports.add(url.port);
      const m = await metricsOf(name);
      expect(m.has("process_cpu_user_seconds_total", { trellis_service: name }), name).toBe(true);
      expect(m.has("nodejs_heap_size_used_bytes", { trellis_service: name }), name).toBe(true);
      // Probes for orchestrators on the same private port: ready = the service's own health.
      const ready = await fetch(new URL("/readyz", url));
      expect(ready.status, name).toBe(200);
      expect(await ready.json()).toMatchObject({ service: name, status: "ok" });
      expect((await fetch(new URL("/healthz", url))).status).toBe(200);
      // Each serves its health endpoint on NATS, with the request metrics of the runtime.
      expect(m.families.get("trellis_nats_server_requests_total"), name).toBe("counter");
    }
    expect(ports.size).toBe(5);
    expect(new URL(base).port).not.toBe(new URL(urls.get("gateway") as string).port);
    const publicMetrics = await http(base, "GET", "/metrics");
    expect(publicMetrics.status).toBe(404);
  });

  it("the gateway times HTTP requests by route template and status; the services count NATS requests by subject and code", async () => {
    const before = await metricsOf("gateway");
    const telemetryBefore = await metricsOf("telemetry");
    const latest = `/api/v2/monitors/${device.id}/readings/latest`;
    await http(base, "GET", latest, { bearer: alice.bearer });
    await http(base, "GET", latest, { bearer: alice.bearer });
    const missing = await http(base, "GET", `/api/v2/monitors/${"0".repeat(32)}/readings/latest`, {
      bearer: alice.bearer,
    });
    // Someone else's or no monitor: refused by telemetry with a typed error.
    expect([403, 404]).toContain(missing.status);
    expect((await http(base, "GET", "/no/such/route")).status).toBe(404);
    const after = await metricsOf("gateway");
    const route = "/api/v2/monitors/:id/readings/latest";
    const delta = (a: Scrape, b: Scrape, name: string, labels: Record<string, string>) =>
      a.value(name, labels) - b.value(name, labels);
    const count = "trellis_http_request_duration_seconds_count";
    // The first asks before any reading: 200 or 404 depending on the monitor; together with the
    // unknown monitor, three requests on the template.
    expect(delta(after, before, count, { method: "GET", route })).toBe(3);
    expect(
      delta(after, before, count, { method: "GET", route, status: String(missing.status) }),
    ).toBeGreaterThanOrEqual(1);
    expect(delta(after, before, count, { method: "GET", route: "unmatched", status: "404" })).toBe(1);
    // No label carries a raw path (an id would be a series per resource).
    for (const s of after.samples.filter((x) => x.name === count)) {
      expect(s.labels.route).not.toMatch(/[0-9a-f]{32}|\/no\/such/);
    }
    const telemetryAfter = await metricsOf("telemetry");
    const served = "trellis_nats_server_requests_total";
    const code = missing.status === 404 ? "not_found" : "forbidden";
    const refused = telemetryAfter.samples.filter(
      (x) => x.name === served && x.labels.code === code && x.labels.subject?.startsWith("telemetry."),
    );
    expect(
      refused.length,
      `a ${code} series in ${JSON.stringify(telemetryAfter.samples.filter((x) => x.name === served))}`,
    ).toBeGreaterThanOrEqual(1);
    expect(telemetryAfter.value(served, { code }) - telemetryBefore.value(served, { code })).toBeGreaterThanOrEqual(1);
    expect(telemetryAfter.value("trellis_nats_server_request_duration_seconds_count")).toBeGreaterThan(
      telemetryBefore.value("trellis_nats_server_request_duration_seconds_count"),
    );
    // The gateway counts the calls it made, by subject.
    expect(after.value("trellis_nats_client_requests_total", { code: "ok" })).toBeGreaterThan(
      before.value("trellis_nats_client_requests_total", { code: "ok" }),
    );
  });

  it("telemetry counts ingest rounds, their sizes and the readings stored; the readings consumer's pending count is sampled", async () => {
    const before = await metricsOf("telemetry");
    const js = jetstream(deviceNc);
    const N = 40;
    await Promise.all(
      Array.from({ length: N }, (_, i) =>
        js.publish(deviceSubjects.readings(device.id), JSON.stringify({ ph: 6 + i / 100 }), {
          msgID: `${device.id}-m-${i}`,
        }),
      ),
    );
    await js.publish(deviceSubjects.readings(device.id), JSON.stringify({ ph: "acid" }), {
      msgID: `${device.id}-bad`,
    });
    const stored = "trellis_telemetry_readings_stored_total";
    const after = await until(
      "telemetry",
      (m) =>
        m.value(stored) - before.value(stored) === N &&
        m.value("trellis_telemetry_readings_rejected_total") >
          before.value("trellis_telemetry_readings_rejected_total"),
    );
    expect(after.value(stored) - before.value(stored)).toBe(N);
    expect(
      after.value("trellis_telemetry_readings_rejected_total") -
        before.value("trellis_telemetry_readings_rejected_total"),
    ).toBe(1);
    const rounds =
      after.value("trellis_telemetry_ingest_round_size_count") -
      before.value("trellis_telemetry_ingest_round_size_count");
    expect(rounds).toBeGreaterThanOrEqual(1);
    expect(rounds).toBeLessThanOrEqual(N + 1);
    // Every message of the rounds is in the size histogram's sum.
    expect(
      after.value("trellis_telemetry_ingest_round_size_sum") - before.value("trellis_telemetry_ingest_round_size_sum"),
    ).toBe(N + 1);
    expect(after.value("trellis_telemetry_ingest_round_duration_seconds_count")).toBeGreaterThan(
      before.value("trellis_telemetry_ingest_round_duration_seconds_count"),
    );
    // Sampled every 5 s: once everything is stored, the consumer has nothing pending.
    const labels = { stream: READINGS_STREAM, consumer: READINGS_CONSUMER };
    const sampled = await until(
      "telemetry",
      (m) =>
        m.has("trellis_jetstream_consumer_pending", labels) &&
        m.value("trellis_jetstream_consumer_pending", labels) === 0,
    );
    expect(sampled.has("trellis_jetstream_consumer_redelivered", labels)).toBe(true);
  });

  it("the gateway counts SSE clients while their streams are open", async () => {
    const gauge = "trellis_gateway_sse_clients";
    const before = (await metricsOf("gateway")).value(gauge);
    const controller = new AbortController();
    const res = await fetch(`${base}/api/v2/monitors/${device.id}/live`, {
      headers: { authorization: `Bearer ${alice.bearer}` },
      signal: controller.signal,
    });
    expect(res.status).toBe(200);
    const open = await until("gateway", (m) => m.value(gauge) === before + 1);
    expect(open.value(gauge)).toBe(before + 1);
    controller.abort();
    await res.body?.cancel().catch(() => {});
    const closed = await until("gateway", (m) => m.value(gauge) === before);
    expect(closed.value(gauge)).toBe(before);
    expect(closed.value("trellis_gateway_sse_closed_total", { reason: "client_closed" })).toBeGreaterThanOrEqual(1);
    expect(
      closed.has("trellis_http_request_duration_seconds_count", { route: "/api/v2/monitors/:id/live", status: "200" }),
    ).toBe(true);
  });

  it("media counts GridFS bytes in and out; analysis reports job states and durations", async () => {
    const mediaBefore = await metricsOf("media");
    // Ten one-second cues: the transcript covers the video.
    const video = testVideo({ seconds: 10, pattern: "testsrc2", audio: false });
    const videoId = await uploadVideo(base, alice, video, factsVtt(1));
    const bytesIn = (m: Scrape) => m.value("trellis_media_gridfs_bytes_total", { direction: "in" });
    const bytesOut = (m: Scrape) => m.value("trellis_media_gridfs_bytes_total", { direction: "out" });
    const afterUpload = await metricsOf("media");
    expect(bytesIn(afterUpload) - bytesIn(mediaBefore)).toBeGreaterThanOrEqual(video.length);
    const download = await fetch(`${base}/api/v2/videos/${videoId}/content`, {
      headers: { authorization: `Bearer ${alice.bearer}`, range: "bytes=0-999" },
    });
    expect(download.status).toBe(206);
    expect((await download.arrayBuffer()).byteLength).toBe(1000);
    const afterDownload = await metricsOf("media");
    expect(bytesOut(afterDownload) - bytesOut(afterUpload)).toBe(1000);

    const started = await http(base, "POST", "/api/v2/analyses", {
      bearer: alice.bearer,
      json: { video_id: videoId, title: "Metrics", num_questions: 2, keyframe_interval: 5 },
    });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const done = await poll(
      () => http(base, "GET", `/api/v2/analyses/${started.body.id}`, { bearer: alice.bearer }),
      (r) => r.status === 200 && ["completed", "failed"].includes(r.body.state),
      { timeoutMs: 90_000, intervalMs: 200 },
    );
    expect(done.value.body.state).toBe("completed");
    const analysis = await until("analysis", (m) => m.value("trellis_queue_jobs", { state: "completed" }) >= 1);
    expect(analysis.value("trellis_queue_jobs", { state: "completed" })).toBeGreaterThanOrEqual(1);
    expect(analysis.has("trellis_queue_jobs", { state: "waiting" })).toBe(true);
    expect(analysis.has("trellis_queue_jobs", { state: "failed" })).toBe(true);
    expect(analysis.value("trellis_queue_job_duration_seconds_count", { outcome: "completed" })).toBe(1);
  }, 120_000);

  it("every metric the Grafana dashboard and the alert rules name is served (up is Prometheus's own)", async () => {
    const served = new Set<string>(["up"]);
    for (const name of [...SERVICES, "gateway"]) {
      const m = await metricsOf(name);
      for (const [family, type] of m.families) {
        served.add(family);
        // A labelled histogram has no samples before its first observation: its series' names.
        if (type === "histogram") for (const suffix of ["_bucket", "_sum", "_count"]) served.add(family + suffix);
      }
      for (const s of m.samples) served.add(s.name);
    }
    const root = join(import.meta.dirname, "..");
    // Alert rules: each names a query, a severity and a summary; `for` is a duration.
    const rules = parseYaml(readFileSync(join(root, "deploy/prometheus/alerts.yml"), "utf8")) as {
      groups: {
        name: string;
        rules: {
          alert: string;
          expr: string;
          for?: string;
          labels: { severity: string };
          annotations: { summary: string };
        }[];
      }[];
    };
    const alertNames = rules.groups.flatMap((g) => g.rules.map((r) => r.alert));
    expect(new Set(alertNames).size).toBe(alertNames.length);
    for (const wanted of [
      "TrellisServiceDown",
      "TrellisConsumerLagGrowing",
      "TrellisNatsErrorRate",
      "TrellisQueueStuck",
      "TrellisDiskAlmostFull",
    ]) {
      expect(alertNames).toContain(wanted);
    }
    const exprs: { where: string; expr: string }[] = [];
    for (const group of rules.groups) {
      for (const rule of group.rules) {
        expect(["warning", "critical"], rule.alert).toContain(rule.labels.severity);
        expect(rule.annotations.summary.length, rule.alert).toBeGreaterThan(0);
        if (rule.for !== undefined) expect(rule.for, rule.alert).toMatch(/^\d+[smh]$/);
        exprs.push({ where: `alert ${rule.alert}`, expr: rule.expr });
      }
    }
    // Dashboard: every panel's queries and the template variables' queries.
    const dashboard = JSON.parse(readFileSync(join(root, "deploy/grafana/trellis.json"), "utf8")) as {
      panels: { title: string; targets?: { expr: string }[] }[];
      templating: { list: { name: string; query?: unknown }[] };
    };
    for (const panel of dashboard.panels) {
      for (const t of panel.targets ?? []) exprs.push({ where: `panel ${panel.title}`, expr: t.expr });
    }
    for (const v of dashboard.templating.list) {
      const q = (v.query as { query?: string } | undefined)?.query;
      const inner = q && /^label_values\(([^,)]+)/.exec(q);
      if (inner) exprs.push({ where: `variable ${v.name}`, expr: inner[1] as string });
    }
    expect(exprs.length).toBeGreaterThan(40);
    const named = new Set<string>();
    const missing: string[] = [];
    for (const { where, expr } of exprs) {
      const names = metricNamesIn(expr);
      expect(names.length, `${where}: ${expr}`).toBeGreaterThan(0);
      for (const n of names) {
        named.add(n);
        if (!served.has(n)) missing.push(`${where}: ${n}`);
      }
    }
    expect(missing).toEqual([]);
    // The areas the issue lists each have a panel or rule.
    for (const n of [
      "trellis_telemetry_readings_stored_total",
      "trellis_http_request_duration_seconds_bucket",
      "trellis_nats_server_requests_total",
      "trellis_jetstream_consumer_pending",
      "trellis_queue_jobs",
      "trellis_gateway_sse_clients",
      "trellis_media_gridfs_bytes_total",
    ]) {
      expect(named.has(n), n).toBe(true);
    }
  });
});
