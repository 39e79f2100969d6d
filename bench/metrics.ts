/**
 * `npm run bench:metrics` — what the Prometheus metrics cost per request, measured in-process:
 * the exact recording work each request adds (the gateway's HTTP middleware with its `close`
 * listener, a NATS request's client-side counter and histogram in the gateway, the serving side's
 * in the service) against the same loop without it, in ns per request. Set against the CPU one
 * authenticated `GET /api/v2/me` costs the whole stack (2 vCPUs / the req/s `bench:auth`
 * measured; BENCH_ME_RPS, default 30,600 from docs/benchmarks.md) this gives the overhead's share (goal
 * ≤ 3 %). Ingest records once per round (two histogram observations, two counters) and not per
 * reading, so its per-reading cost is that divided by the round size.
 *
 * Why not an A/B of bench:auth: on this shared two-core machine two runs differ by more than 3 %.
 */
import { EventEmitter } from "node:events";
import {
  type CounterSeries,
  fastHistogram,
  type HistogramSeries,
  LATENCY_BUCKETS,
  natsMetrics,
  secondsSince,
} from "@trellis/runtime";

const N = Number(process.env.BENCH_METRICS_ITERATIONS ?? 2_000_000);
const CORES = Number(process.env.BENCH_CORES ?? 2);
const ME_RPS = Number(process.env.BENCH_ME_RPS ?? 30_600);

const httpSeconds = fastHistogram({
  name: "bench_http_request_duration_seconds",
  help: "as trellis_http_request_duration_seconds",
  labelNames: ["method", "route", "status"] as const,
  buckets: LATENCY_BUCKETS,
});
// As the gateway middleware, serve and request do: a Map lookup by a string key, then the series.
const httpByKey = new Map<string, HistogramSeries>();
const natsBySubject = new Map<string, { ok: CounterSeries; seconds: HistogramSeries }>();
const servedBySubject = new Map<string, { ok: CounterSeries; seconds: HistogramSeries }>();
const seriesOf = (
  map: Map<string, { ok: CounterSeries; seconds: HistogramSeries }>,
  side: "called" | "served",
  subject: string,
) => {
  let m = map.get(subject);
  if (!m) {
    m =
      side === "called"
        ? { ok: natsMetrics.called.with({ subject, code: "ok" }), seconds: natsMetrics.calledSeconds.with({ subject }) }
        : {
            ok: natsMetrics.served.with({ subject, code: "ok" }),
            seconds: natsMetrics.servedSeconds.with({ subject }),
          };
    map.set(subject, m);
  }
  return m;
};

/** ns per iteration of `body`, best of 5 runs (after a warm-up run). */
function nsPer(body: (i: number) => void): number {
  let best = Number.POSITIVE_INFINITY;
  for (let run = 0; run < 6; run++) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < N; i++) body(i);
    const ns = Number(process.hrtime.bigint() - started) / N;
    if (run > 0) best = Math.min(best, ns);
  }
  return best;
}

let sink = 0;
const subject = "auth.v1.me";
const route = "/api/v2/me";

// Baseline: what a request does anyway at these points (reads the clock, builds the response object).
const baseline = nsPer((i) => {
  const res = new EventEmitter();
  const started = performance.now();
  res.emit("close");
  sink += (performance.now() - started + i) % 2;
});
// With metrics: the gateway's middleware (listener + route lookup + observe), the client-side and
// the server-side NATS metrics of the one call GET /me makes.
const withMetrics = nsPer((i) => {
  const res = new EventEmitter();
  const started = performance.now();
  res.once("close", () => {
    const key = `GET ${route} 200`;
    let series = httpByKey.get(key);
    if (!series) {
      series = httpSeconds.with({ method: "GET", route, status: "200" });
      httpByKey.set(key, series);
    }
    series.observe((performance.now() - started) / 1_000);
  });
  const called = seriesOf(natsBySubject, "called", subject);
  called.ok.inc();
  called.seconds.observe(secondsSince(started));
  const served = seriesOf(servedBySubject, "served", subject);
  served.ok.inc();
  served.seconds.observe(secondsSince(started));
  res.emit("close");
  sink += (performance.now() - started + i) % 2;
});

const perRequestNs = withMetrics - baseline;
const budgetNs = (CORES / ME_RPS) * 1e9;
const share = (perRequestNs / budgetNs) * 100;
process.stdout.write(
  [
    `iterations: ${N.toLocaleString("en")} (best of 5)`,
    `baseline loop: ${baseline.toFixed(0)} ns; with the metrics of one GET /api/v2/me: ${withMetrics.toFixed(0)} ns`,
    `metrics per request: ${perRequestNs.toFixed(0)} ns of CPU`,
    `CPU per GET /api/v2/me (whole stack, ${CORES} cores / ${ME_RPS.toLocaleString("en")} req/s): ${(budgetNs / 1_000).toFixed(1)} µs`,
    `overhead: ${share.toFixed(2)} % (goal ≤ 3 %)`,
    `(sink ${sink > 0 ? "used" : "unused"})`,
    "",
  ].join("\n"),
);
