import { errors, type NatsConnection } from "@nats-io/transport-node";
import {
  CSV_COLUMNS,
  CSV_PAGE_SIZE,
  MEASUREMENTS,
  type RawPoint,
  TrellisError,
  telemetryCatalog,
  telemetryV2Routes,
} from "@trellis/contracts";
import { request } from "@trellis/runtime";
import type { Response, Router } from "express";
import type { Mount } from "../http/mount.ts";

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

/** Writes a chunk, waiting for 'drain' when the socket's buffer is full; rejects if the client leaves. */
function write(res: Response, chunk: string): Promise<void> {
  if (res.destroyed) return Promise.reject(new Error("the client went away"));
  if (res.write(chunk)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onDrain = () => {
      res.off("close", onClose);
      resolve();
    };
    const onClose = () => {
      res.off("drain", onDrain);
      reject(new Error("the client went away"));
    };
    res.once("drain", onDrain);
    res.once("close", onClose);
  });
}

/** Monitors and readings of the modern API. Authorization is decided by telemetry, from `actor`. */
export function registerTelemetryV2(router: Router, nc: NatsConnection, mount: Mount): void {
  const r = telemetryV2Routes;

  mount(router, r.list, async ({ principal: actor, query, requestId }) => ({
    status: 200,
    body: await request(
      nc,
      telemetryCatalog.listMonitors,
      { actor, ...(query.owner_id !== undefined ? { ownerId: query.owner_id } : {}) },
      { requestId },
    ),
  }));

  mount(router, r.create, async ({ principal: actor, body, requestId }) => {
    const monitor = await request(
      nc,
      telemetryCatalog.addMonitor,
      { actor, monitorId: body.id, ownerId: body.owner_id, password: body.password },
      { requestId },
    );
    return { status: 201, body: monitor, headers: { Location: `/api/v2/monitors/${monitor.id}` } };
  });

  mount(router, r.get, async ({ principal: actor, params, requestId }) => ({
    status: 200,
    body: await request(nc, telemetryCatalog.getMonitor, { actor, monitorId: params.id }, { requestId }),
  }));

  mount(router, r.delete, async ({ principal: actor, params, requestId }) => {
    await request(nc, telemetryCatalog.deleteMonitor, { actor, monitorId: params.id }, { requestId });
    return { status: 204 };
  });

  mount(router, r.reset, async ({ principal: actor, params, requestId }) => {
    await request(nc, telemetryCatalog.resetMonitor, { actor, monitorId: params.id }, { requestId });
    return { status: 204 };
  });

  mount(router, r.submitReading, async ({ principal: actor, params, body, requestId }) => {
    const accepted = await request(
      nc,
      telemetryCatalog.submitReading,
      { actor, monitorId: params.id, reading: body },
      { requestId },
    ).catch((err: unknown) => {
      throw natsPayloadTooLarge(err);
    });
    return { status: 202, body: accepted };
  });

  mount(router, r.latest, async ({ principal: actor, params, requestId }) => ({
    status: 200,
    body: await request(nc, telemetryCatalog.latest, { actor, monitorId: params.id }, { requestId }),
  }));

  mount(router, r.history, async ({ principal: actor, params, query, requestId }) => {
    if (query.from !== undefined && query.to !== undefined && query.from > query.to) {
      throw new TrellisError("invalid_argument", "from must not be after to");
    }
    return {
      status: 200,
      body: await request(
        nc,
        telemetryCatalog.history,
        {
          actor,
          monitorId: params.id,
          limit: query.limit,
          ...(query.from !== undefined ? { from: query.from } : {}),
          ...(query.to !== undefined ? { to: query.to } : {}),
          ...(query.after !== undefined ? { after: query.after } : {}),
        },
        { requestId },
      ),
    };
  });

  mount(router, r.series, async ({ principal: actor, params, query, requestId }) => {
    const { from, to } = window(query.from, query.to, DAY_MS);
    const { measurement, aggregate } = query;
    const series = await request(
      nc,
      telemetryCatalog.series,
      { actor, monitorId: params.id, measurement, from, to, interval: query.interval },
      { requestId },
    );
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
  mount(router, r.exportCsv, async ({ principal: actor, params, query, requestId, req, res }) => {
    const { from, to } = window(query.from, query.to, Number.POSITIVE_INFINITY);
    const page = (after?: number) =>
      request(
        nc,
        telemetryCatalog.history,
        { actor, monitorId: params.id, from, to, limit: CSV_PAGE_SIZE, ...(after !== undefined ? { after } : {}) },
        { requestId },
      );
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
