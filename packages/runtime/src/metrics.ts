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

type Labels<L extends string> = Record<L, string>;
interface Exported {
  name: string;
  help: string;
  type: "counter" | "histogram";
  aggregator: "sum";
  values: { metricName?: string; labels: Record<string, string | number>; value: number }[];
}

/**
 * Counters and histograms for the per-request paths (every NATS request, HTTP request and
 * consumed message). prom-client's own cost ~0.3-0.5 µs per `observe` (labels hashed and checked
 * on every call): with four observations per gateway request that was over the 3 % budget
 * (`npm run bench:metrics`). Here a series is a plain object fetched once (callers keep it, or
 * look it up in a Map by a string key) and updated with a few array writes; prom-client's registry
 * still serializes them (they implement the `get()` it calls), so the output is the same format.
 */
abstract class FastMetric<L extends string, S> {
  protected readonly series = new Map<string, { labels: Labels<L>; state: S }>();
  readonly name: string;
  readonly help: string;
  protected readonly labelNames: readonly L[];
  constructor(name: string, help: string, labelNames: readonly L[]) {
    this.name = name;
    this.help = help;
    this.labelNames = labelNames;
  }
  protected abstract fresh(): S;
  /** The series of these labels (created on first use). Keep it: that is the fast path. */
  protected stateOf(labels: Labels<L>): S {
    let key = "";
    for (const n of this.labelNames) key += `${labels[n]}\u0000`;
    let entry = this.series.get(key);
    if (!entry) {
      entry = { labels: { ...labels }, state: this.fresh() };
      this.series.set(key, entry);
    }
    return entry.state;
  }
  reset(): void {
    this.series.clear();
  }
}

export interface CounterSeries {
  inc(by?: number): void;
}

export class FastCounter<L extends string> extends FastMetric<L, { value: number }> {
  readonly type = "counter";
  readonly aggregator = "sum";
  protected fresh() {
    return { value: 0 };
  }
  /** The series of these labels: `inc()` on it costs an addition. */
  with(labels: Labels<L>): CounterSeries {
    const state = this.stateOf(labels);
    return {
      inc(by = 1) {
        state.value += by;
      },
    };
  }
  inc(labels: Labels<L>, by = 1): void {
    this.stateOf(labels).value += by;
  }
  async get(): Promise<Exported> {
    return {
      name: this.name,
      help: this.help,
      type: "counter",
      aggregator: "sum",
      values: [...this.series.values()].map((e) => ({ labels: e.labels, value: e.state.value })),
    };
  }
}

export interface HistogramSeries {
  observe(value: number): void;
}

export class FastHistogram<L extends string> extends FastMetric<
  L,
  { counts: Float64Array; sum: number; count: number }
> {
  readonly type = "histogram";
  readonly aggregator = "sum";
  private readonly buckets: readonly number[];
  constructor(name: string, help: string, labelNames: readonly L[], buckets: readonly number[]) {
    super(name, help, labelNames);
    this.buckets = buckets;
  }
  protected fresh() {
    return { counts: new Float64Array(this.buckets.length), sum: 0, count: 0 };
  }
  /** The series of these labels: `observe()` on it is a bucket search and three additions. */
  with(labels: Labels<L>): HistogramSeries {
    const state = this.stateOf(labels);
    const buckets = this.buckets;
    return {
      observe(value: number) {
        state.sum += value;
        state.count += 1;
        for (let i = 0; i < buckets.length; i++) {
          if (value <= (buckets[i] as number)) {
            state.counts[i] = (state.counts[i] ?? 0) + 1;
            return;
          }
        }
      },
    };
  }
  observe(labels: Labels<L>, value: number): void {
    this.with(labels).observe(value);
  }
  async get(): Promise<Exported> {
    const values: Exported["values"] = [];
    for (const { labels, state } of this.series.values()) {
      let acc = 0;
      this.buckets.forEach((le, i) => {
        acc += state.counts[i] ?? 0;
        values.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le }, value: acc });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le: "+Inf" }, value: state.count });
      values.push({ metricName: `${this.name}_sum`, labels, value: state.sum });
      values.push({ metricName: `${this.name}_count`, labels, value: state.count });
    }
    return { name: this.name, help: this.help, type: "histogram", aggregator: "sum", values };
  }
}

export function fastCounter<L extends string>(config: {
  name: string;
  help: string;
  labelNames: readonly L[];
}): FastCounter<L> {
  const existing = metricsRegistry.getSingleMetric(config.name) as unknown as FastCounter<L> | undefined;
  if (existing) return existing;
  const metric = new FastCounter<L>(config.name, config.help, config.labelNames);
  metricsRegistry.registerMetric(metric as never);
  return metric;
}

export function fastHistogram<L extends string>(config: {
  name: string;
  help: string;
  labelNames: readonly L[];
  buckets: readonly number[];
}): FastHistogram<L> {
  const existing = metricsRegistry.getSingleMetric(config.name) as unknown as FastHistogram<L> | undefined;
  if (existing) return existing;
  const metric = new FastHistogram<L>(config.name, config.help, config.labelNames, config.buckets);
  metricsRegistry.registerMetric(metric as never);
  return metric;
}

/** Seconds since `started` (a `performance.now()` reading). */
export const secondsSince = (started: number): number => (performance.now() - started) / 1_000;

/** Latency buckets (seconds) for requests: 1 ms … 30 s. */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Metrics of NATS request handling (`serve`) and calling (`request`), by subject; `code` is `ok` or a TrellisError code. */
export const natsMetrics = {
  served: fastCounter({
    name: "trellis_nats_server_requests_total",
    help: "NATS requests handled by this process, by subject and outcome (ok or the error code)",
    labelNames: ["subject", "code"] as const,
  }),
  servedSeconds: fastHistogram({
    name: "trellis_nats_server_request_duration_seconds",
    help: "Time to handle a NATS request, from receipt to reply, by subject",
    labelNames: ["subject"] as const,
    buckets: LATENCY_BUCKETS,
  }),
  called: fastCounter({
    name: "trellis_nats_client_requests_total",
    help: "NATS requests this process made, by subject and outcome (ok or the error code)",
    labelNames: ["subject", "code"] as const,
  }),
  calledSeconds: fastHistogram({
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
  handled: fastCounter({
    name: "trellis_jetstream_messages_total",
    help: "Messages this process settled, by outcome (ack, nak = retry later, term = dead-lettered)",
    labelNames: ["stream", "consumer", "outcome"] as const,
  }),
  handledSeconds: fastHistogram({
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
