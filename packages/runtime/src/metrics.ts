import { statfs } from "node:fs/promises";
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import type { Logger } from "pino";
import {
  Counter,
  type CounterConfiguration,
  collectDefaultMetrics,
  Gauge,
  type GaugeConfiguration,
  Histogram,
  type HistogramConfiguration,
  Registry,
} from "prom-client";

/**
 * Prometheus metrics, once for every service (prom-client: the de-facto Node client, with the
 * process/GC/event-loop metrics built in and the text format Prometheus scrapes). One registry
 * per process; a service's own metrics are made with `counter`/`gauge`/`histogram` below, which
 * return the metric already registered under a name (a module loaded twice, or two consumers of
 * one process, share it instead of throwing).
 */
export const metricsRegistry = new Registry();

let serving = false;

/** Whether this process serves a metrics endpoint (work done only for metrics, e.g. sampling consumer info, is skipped otherwise). */
export const metricsEnabled = (): boolean => serving;

export function counter<L extends string>(config: CounterConfiguration<L>): Counter<L> {
  return (
    (metricsRegistry.getSingleMetric(config.name) as Counter<L> | undefined) ??
    new Counter({ ...config, registers: [metricsRegistry] })
  );
}

export function gauge<L extends string>(config: GaugeConfiguration<L>): Gauge<L> {
  return (
    (metricsRegistry.getSingleMetric(config.name) as Gauge<L> | undefined) ??
    new Gauge({ ...config, registers: [metricsRegistry] })
  );
}

export function histogram<L extends string>(config: HistogramConfiguration<L>): Histogram<L> {
  return (
    (metricsRegistry.getSingleMetric(config.name) as Histogram<L> | undefined) ??
    new Histogram({ ...config, registers: [metricsRegistry] })
  );
}

/** Seconds since `started` (a `performance.now()` reading). */
export const secondsSince = (started: number): number => (performance.now() - started) / 1_000;

/** Latency buckets (seconds) for requests: 1 ms … 30 s. */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Metrics of NATS request handling (`serve`) and calling (`request`), by subject; `code` is `ok` or a TrellisError code. */
export const natsMetrics = {
  served: counter({
    name: "trellis_nats_server_requests_total",
    help: "NATS requests handled by this process, by subject and outcome (ok or the error code)",
    labelNames: ["subject", "code"] as const,
  }),
  servedSeconds: histogram({
    name: "trellis_nats_server_request_duration_seconds",
    help: "Time to handle a NATS request, from receipt to reply, by subject",
    labelNames: ["subject"] as const,
    buckets: LATENCY_BUCKETS,
  }),
  called: counter({
    name: "trellis_nats_client_requests_total",
    help: "NATS requests this process made, by subject and outcome (ok or the error code)",
    labelNames: ["subject", "code"] as const,
  }),
  calledSeconds: histogram({
    name: "trellis_nats_client_request_duration_seconds",
    help: "Time from sending a NATS request to its reply, by subject",
    labelNames: ["subject"] as const,
    buckets: LATENCY_BUCKETS,
  }),
};

/** Metrics of JetStream durable consumers (`consume`). */
export const consumerMetrics = {
  pending: gauge({
    name: "trellis_jetstream_consumer_pending",
    help: "Messages in the stream not yet delivered to the consumer (num_pending, sampled from consumer info)",
    labelNames: ["stream", "consumer"] as const,
  }),
  ackPending: gauge({
    name: "trellis_jetstream_consumer_ack_pending",
    help: "Messages delivered and not yet acknowledged (num_ack_pending, sampled from consumer info)",
    labelNames: ["stream", "consumer"] as const,
  }),
  redelivered: gauge({
    name: "trellis_jetstream_consumer_redelivered",
    help: "Messages delivered more than once and not yet acknowledged (num_redelivered, sampled from consumer info)",
    labelNames: ["stream", "consumer"] as const,
  }),
  handled: counter({
    name: "trellis_jetstream_messages_total",
    help: "Messages this process settled, by outcome (ack, nak = retry later, term = dead-lettered)",
    labelNames: ["stream", "consumer", "outcome"] as const,
  }),
  handledSeconds: histogram({
    name: "trellis_jetstream_message_duration_seconds",
    help: "Time to handle one message, by consumer",
    labelNames: ["stream", "consumer"] as const,
    buckets: LATENCY_BUCKETS,
  }),
};

/**
 * Reads a JetStream consumer's info every `everyMs` (default 5 s) into the consumer gauges, while
 * this process serves metrics (a no-op otherwise). Returns the function that stops it.
 */
export function sampleConsumerMetrics(
  consumer: {
    info(cached?: boolean): Promise<{ num_pending: number; num_ack_pending: number; num_redelivered: number }>;
  },
  labels: { stream: string; consumer: string },
  options: { everyMs?: number | undefined; log?: Logger } = {},
): () => void {
  if (!metricsEnabled()) return () => {};
  const sample = async (): Promise<void> => {
    try {
      const info = await consumer.info(false);
      consumerMetrics.pending.set(labels, info.num_pending);
      consumerMetrics.ackPending.set(labels, info.num_ack_pending);
      consumerMetrics.redelivered.set(labels, info.num_redelivered);
    } catch (err) {
      options.log?.debug({ err }, "reading consumer info for the metrics failed");
    }
  };
  void sample();
  const timer = setInterval(() => void sample(), options.everyMs ?? 5_000);
  timer.unref();
  return () => clearInterval(timer);
}

const watchedDirs = new Set<string>();
let reading: Promise<void> | undefined;
/** One statfs per directory per scrape, shared by both disk gauges (a scrape collects them concurrently). */
const readDisks = (): Promise<void> =>
  (reading ??= Promise.all(
    [...watchedDirs].map(async (dir) => {
      try {
        const s = await statfs(dir);
        diskFree.set({ path: dir }, s.bavail * s.bsize);
        diskSize.set({ path: dir }, s.blocks * s.bsize);
      } catch {
        // Gone or unreadable: no value rather than a wrong one.
        diskFree.remove({ path: dir });
        diskSize.remove({ path: dir });
      }
    }),
  ).then(
    () => {
      reading = undefined;
    },
    () => {
      reading = undefined;
    },
  ));
const diskFree: Gauge<"path"> = gauge({
  name: "trellis_disk_free_bytes",
  help: "Bytes available to this process on the filesystem of a directory it writes (read at scrape time)",
  labelNames: ["path"] as const,
  collect: readDisks,
});
const diskSize: Gauge<"path"> = gauge({
  name: "trellis_disk_size_bytes",
  help: "Size of the filesystem of a directory this process writes (read at scrape time)",
  labelNames: ["path"] as const,
  collect: readDisks,
});

/** Reports the free space of the filesystem holding `path` (e.g. a work directory) at each scrape. */
export function watchDiskMetrics(path: string): void {
  watchedDirs.add(path);
}

export interface MetricsServer {
  readonly port: number;
  readonly url: string;
  /**
   * What `GET /readyz` answers from: the service's own health (its dependencies), once it has
   * started; 503 until then. (`GET /healthz` answers 200 while the process serves HTTP at all.)
   */
  setReadiness(check: () => Promise<{ ready: boolean; body: unknown }>): void;
  close(): Promise<void>;
}

/**
 * Serves `GET /metrics` (Prometheus text format) on its own port, apart from any public listener,
 * and turns on the default process metrics, labelled with the service's name.
 */
export async function startMetricsServer(options: {
  port: number;
  host: string;
  service: string;
  log?: Logger;
}): Promise<MetricsServer> {
  if (!serving) {
    // `trellis_service`, not `service`: Kubernetes service discovery sets a `service` label of its own.
    metricsRegistry.setDefaultLabels({ trellis_service: options.service });
    collectDefaultMetrics({ register: metricsRegistry });
    watchDiskMetrics(tmpdir());
  }
  let readiness: (() => Promise<{ ready: boolean; body: unknown }>) | undefined;
  const json = (res: ServerResponse, status: number, body: unknown) =>
    res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const read = req.method === "GET" || req.method === "HEAD";
    // Probes for orchestrators (Kubernetes): on this private port, for every service alike.
    if (read && path === "/healthz") return json(res, 200, { status: "ok" });
    if (read && path === "/readyz") {
      if (!readiness) return json(res, 503, { status: "starting" });
      readiness().then(
        ({ ready, body }) => json(res, ready ? 200 : 503, body),
        (err: unknown) => json(res, 503, { status: "error", error: (err as Error).message }),
      );
      return;
    }
    if (path !== "/metrics" || !read) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found: metrics are at GET /metrics\n");
      return;
    }
    metricsRegistry.metrics().then(
      (text) => res.writeHead(200, { "content-type": metricsRegistry.contentType }).end(text),
      (err: unknown) => {
        options.log?.error({ err }, "collecting metrics failed");
        res.writeHead(500, { "content-type": "text/plain" }).end("collecting metrics failed\n");
      },
    );
  });
  // A scrape is one short request; a stuck scraper must not hold the process at shutdown.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  serving = true;
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  return {
    port,
    url: `http://${host}:${port}/metrics`,
    setReadiness(check) {
      readiness = check;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
