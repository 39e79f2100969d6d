import { errors } from "@nats-io/transport-node";
import {
  CSV_COLUMNS,
  CSV_PAGE_SIZE,
  MEASUREMENTS,
  type RawPoint,
  TrellisError,
  telemetryCatalog,
  telemetryV2Routes,
} from "@trellis/contracts";
import type { Router } from "express";
import type { Mount } from "../http/mount.ts";
import { write } from "../http/stream.ts";

const DAY_MS = 86_400_000;

/**
 * A request larger than the NATS server's `max_payload` fails inside the client before it is
 * sent; it is the caller's payload that is too large, not a server bug.
 */
export function natsPayloadTooLarge(err: unknown): unknown {
  if (err instanceof errors.InvalidArgumentError && err.message.includes("max_payload")) {
    return new TrellisError("payload_too_large", "the reading is too large to forward", { cause: err });
  }
  return err;
}

function window(from: number | undefined, to: number | undefined, defaultSpanMs: number) {
  const end = to ?? Date.now();
  const start = from ?? Math.max(0, end - defaultSpanMs);
  if (start > end) throw new TrellisError("invalid_argument", "from must not be after to");
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

  mount(router, r.history, async ({ params, query, call }) => {
    if (query.from !== undefined && query.to !== undefined && query.from > query.to) {
      throw new TrellisError("invalid_argument", "from must not be after to");
    }
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

  mount(router, r.series, async ({ params, query, call }) => {
    const { from, to } = window(query.from, query.to, DAY_MS);
    const { measurement, aggregate } = query;
    const series = await call(telemetryCatalog.series, {
      monitorId: params.id,
      measurement,
      from,
      to,
      interval: query.interval,
    });
    const points =
      aggregate === undefined
        ? series.points
        : series.points.map((p) => ({ start: p.start, value: aggregate === "count" ? p.count : p[aggregate] }));
    return {
      status: 200,
      body: { measurement, interval: series.interval, from, to, ...(aggregate ? { aggregate } : {}), points },
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
