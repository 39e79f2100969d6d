import { fastHistogram, type HistogramSeries, LATENCY_BUCKETS } from "@trellis/runtime";
import type { RequestHandler } from "express";

const httpSeconds = fastHistogram({
  name: "trellis_http_request_duration_seconds",
  help: "HTTP requests answered by the gateway, by method, route template (e.g. /api/v2/media/videos/:id) and status",
  labelNames: ["method", "route", "status"] as const,
  buckets: LATENCY_BUCKETS,
});

/**
 * Times every HTTP request by the route template Express matched, never the raw path (ids would
 * make a series per resource); a request no route matched counts as `unmatched`. Observed when the
 * connection is done with the response (`close`), so streams and aborted requests count too.
 */
const byKey = new Map<string, HistogramSeries>();

export function httpMetrics(): RequestHandler {
  return (req, res, next) => {
    const started = performance.now();
    res.once("close", () => {
      const template = (req.route as { path?: unknown } | undefined)?.path;
      const route = typeof template === "string" ? `${req.baseUrl}${template}` : "unmatched";
      // A client that left before any answer: 499, as nginx logs it.
      const status = res.headersSent ? String(res.statusCode) : "499";
      const key = `${req.method} ${route} ${status}`;
      let series = byKey.get(key);
      if (!series) {
        series = httpSeconds.with({ method: req.method, route, status });
        byKey.set(key, series);
      }
      series.observe((performance.now() - started) / 1_000);
    });
    next();
  };
}
