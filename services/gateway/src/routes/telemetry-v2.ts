import {
  type ColumnSeries,
  CSV_COLUMNS,
  CSV_PAGE_SIZE,
  MAX_BULK_CSV_BYTES,
  MEASUREMENTS,
  type RawPoint,
  type SeriesColumn,
  seriesCsvHeader,
  TrellisError,
  telemetryCatalog,
  telemetryV2Routes,
} from "@trellis/contracts";
import { isMaxPayloadExceeded } from "@trellis/runtime";
import type { Router } from "express";
import type { Mount } from "../http/mount.ts";
import { write } from "../http/stream.ts";
import { readText, uploading } from "../http/upload.ts";

const DAY_MS = 86_400_000;

/**
 * A request larger than the NATS server's `max_payload` is refused by the client before it is
 * sent (`MaxPayloadExceededError`); it is the caller's payload that is too large, not a server bug.
 */
export function natsPayloadTooLarge(err: unknown): unknown {
  if (isMaxPayloadExceeded(err)) {
    return new TrellisError("payload_too_large", "the reading is too large to forward", { cause: err });
  }
  return err;
}

/** A window with its defaults. `from` after `to` is an empty window (no readings), not an error. */
function window(from: number | undefined, to: number | undefined, defaultSpanMs: number) {
  const end = to ?? Date.now();
  const start = from ?? Math.max(0, end - defaultSpanMs);
  return { from: start, to: end };
}

const csvRows = (items: readonly RawPoint[]): string => {
  let out = "";
  for (const p of items) {
    out += `${p.at},${new Date(p.at).toISOString()}`;
    for (const m of MEASUREMENTS) out += `,${p.values[m] ?? ""}`;
    out += "\n";
  }
  return out;
};

/** A series as CSV: one row per bucket start any column has, an empty cell where a column has no value. */
export function seriesCsv(series: readonly ColumnSeries[]): string {
  const starts = [...new Set(series.flatMap((c) => c.points.map((p) => p.start)))].sort((a, b) => a - b);
  const byColumn = series.map((c) => new Map(c.points.map((p) => [p.start, p.value])));
  let out = `${seriesCsvHeader(series)}\n`;
  for (const start of starts) {
    out += `${start},${new Date(start).toISOString()}`;
    for (const values of byColumn) out += `,${values.get(start) ?? ""}`;
    out += "\n";
  }
  return out;
}

/** The original one-measurement form's aggregates (answered from `series`, as before). */
const ORIGINAL_AGGREGATES: readonly string[] = ["avg", "min", "max", "count"];

/** Monitors and readings of the modern API. Authorization is decided by telemetry, from `actor`. */
export function registerTelemetryV2(router: Router, mount: Mount): void {
  const r = telemetryV2Routes;

  mount(router, r.list, async ({ query, call }) => ({
    status: 200,
    body: await call(telemetryCatalog.listMonitors, {
      limit: query.limit,
      ...(query.owner_id !== undefined ? { ownerId: query.owner_id } : {}),
      ...(query.cursor !== undefined ? { cursor: query.cursor } : {}),
    }),
  }));

  mount(router, r.create, async ({ body, call }) => {
    const monitor = await call(telemetryCatalog.addMonitor, {
      monitorId: body.id,
      ownerId: body.owner_id,
      password: body.password,
    });
    return { status: 201, body: monitor, headers: { Location: `/api/v2/monitors/${monitor.id}` } };
  });

  // A CSV body, read whole (bounded: 413 past it); telemetry parses it and answers per row.
  mount(router, r.bulkCreate, async ({ req, res, call }) => {
    const result = await uploading(req, res, async () => {
      if (!req.is("text/csv")) throw new TrellisError("unsupported_media_type", "send text/csv");
      const csv = await readText(req, MAX_BULK_CSV_BYTES);
      return call(telemetryCatalog.bulkAddMonitors, { csv });
    });
    return { status: 200, body: result };
  });

  mount(router, r.get, async ({ params, call }) => ({
    status: 200,
    body: await call(telemetryCatalog.getMonitor, { monitorId: params.id }),
  }));

  mount(router, r.delete, async ({ params, call }) => {
    await call(telemetryCatalog.deleteMonitor, { monitorId: params.id });
    return { status: 204 };
  });

  mount(router, r.reset, async ({ params, call }) => {
    await call(telemetryCatalog.resetMonitor, { monitorId: params.id });
    return { status: 204 };
  });

  // Answers once the reading is stored and visible (read-your-writes); a retry with the same
  // Idempotency-Key is stored once.
  mount(router, r.submitReading, async ({ params, body, headers, call }) => {
    const stored = await call(telemetryCatalog.submitReading, {
      monitorId: params.id,
      reading: body,
      ...(headers["idempotency-key"] !== undefined ? { idempotencyKey: headers["idempotency-key"] } : {}),
    }).catch((err: unknown) => {
      throw natsPayloadTooLarge(err);
    });
    return { status: 200, body: stored };
  });

  mount(router, r.latest, async ({ params, call }) => ({
    status: 200,
    body: await call(telemetryCatalog.latest, { monitorId: params.id }),
  }));

  // `from` after `to` is an empty window: telemetry answers an empty page (after checking access).
  mount(router, r.history, async ({ params, query, call }) => {
    return {
      status: 200,
      body: await call(telemetryCatalog.history, {
        monitorId: params.id,
        limit: query.limit,
        ...(query.from !== undefined ? { from: query.from } : {}),
        ...(query.to !== undefined ? { to: query.to } : {}),
        ...(query.after !== undefined ? { after: query.after } : {}),
      }),
    };
  });

  mount(router, r.series, async ({ params, query, call, req, res }) => {
    const { from, to } = window(query.from, query.to, DAY_MS);
    const { measurement, measurements, aggregate, fill, interval } = query;
    if ((measurement === undefined) === (measurements === undefined)) {
      throw new TrellisError("invalid_argument", "give either measurement or measurements");
    }
    if (measurements !== undefined && aggregate !== undefined) {
      throw new TrellisError("invalid_argument", "aggregate goes with measurement; measurements names its own");
    }
    const csv = query.format === "csv" || (query.format === undefined && req.accepts(["json", "csv"]) === "csv");

    if (
      measurement !== undefined &&
      !csv &&
      fill === undefined &&
      (aggregate === undefined || ORIGINAL_AGGREGATES.includes(aggregate))
    ) {
      const series = await call(telemetryCatalog.series, { monitorId: params.id, measurement, from, to, interval });
      const points =
        aggregate === undefined
          ? series.points
          : series.points.map((p) => ({
              start: p.start,
              value: aggregate === "count" ? p.count : p[aggregate as "avg" | "min" | "max"],
            }));
      return {
        status: 200,
        body: { measurement, interval: series.interval, from, to, ...(aggregate ? { aggregate } : {}), points },
      };
    }
    if (measurement !== undefined && aggregate === undefined && !csv) {
      throw new TrellisError("invalid_argument", "fill needs aggregate (or measurements)");
    }
    const columns: SeriesColumn[] =
      measurements ??
      (aggregate !== undefined
        ? [{ measurement: measurement as NonNullable<typeof measurement>, aggregate }]
        : (["avg", "min", "max", "count"] as const).map((a) => ({
            measurement: measurement as NonNullable<typeof measurement>,
            aggregate: a,
          })));
    const answer = await call(telemetryCatalog.seriesColumns, {
      monitorId: params.id,
      columns,
      from,
      to,
      interval,
      fill: fill ?? "none",
    });
    if (csv) {
      res.status(200);
      res.setHeader("Content-Type", "text/csv; charset=utf-8");
      res.setHeader("Content-Disposition", `attachment; filename="${params.id}-series-${from}-${to}.csv"`);
      res.setHeader("Cache-Control", "no-store");
      res.end(seriesCsv(answer.series));
      return undefined;
    }
    if (measurements !== undefined) {
      return { status: 200, body: { interval: answer.interval, from, to, fill: answer.fill, series: answer.series } };
    }
    return {
      status: 200,
      body: {
        measurement: measurement as NonNullable<typeof measurement>,
        interval: answer.interval,
        from,
        to,
        ...(aggregate ? { aggregate } : {}),
        points: answer.series[0]?.points ?? [],
      },
    };
  });

  /**
   * Streamed: one history page at a time, each written as it arrives, so memory stays flat however
   * long the window. A failure before the first byte is an ordinary error response; after it, the
   * only honest signal left is to cut the connection (the client sees a truncated download).
   */
  mount(router, r.exportCsv, async ({ params, query, call, req, res }) => {
    const { from, to } = window(query.from, query.to, Number.POSITIVE_INFINITY);
    const page = (after?: number) =>
      call(telemetryCatalog.history, {
        monitorId: params.id,
        from,
        to,
        limit: CSV_PAGE_SIZE,
        ...(after !== undefined ? { after } : {}),
      });
    let current = await page();
    res.status(200);
    res.setHeader("Content-Type", "text/csv; charset=utf-8");
    res.setHeader("Content-Disposition", `attachment; filename="${params.id}-${from}-${to}.csv"`);
    res.setHeader("Cache-Control", "no-store");
    try {
      await write(res, `${CSV_COLUMNS.join(",")}\n${csvRows(current.items)}`);
      while (current.nextAfter !== null) {
        const after: number = current.nextAfter;
        current = await page(after);
        if (current.nextAfter !== null && current.nextAfter <= after) {
          throw new TrellisError("internal", "telemetry returned a page cursor that does not advance");
        }
        await write(res, csvRows(current.items));
      }
      res.end();
    } catch (err) {
      if (!res.destroyed) {
        req.log.warn({ err, monitorId: params.id }, "csv export failed mid-stream");
        res.destroy();
      }
    }
    return undefined;
  });
}
