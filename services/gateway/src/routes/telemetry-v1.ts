import type { NatsConnection } from "@nats-io/transport-node";
import {
  type ErrorCode,
  isTrellisError,
  MEASUREMENTS,
  MonitorId,
  Reading,
  STRING_FIELDS,
  TrellisError,
  telemetryCatalog,
  telemetryV1Routes,
  UserId,
} from "@trellis/contracts";
import { request } from "@trellis/runtime";
import type { Router } from "express";
import type { Mount } from "../http/mount.ts";
import { natsPayloadTooLarge } from "./telemetry-v2.ts";

/** Seed 002's success envelope. */
const ok = (data: unknown) => ({ status: 200, body: { success: true, data } });
const invalid = (message: string) => new TrellisError("invalid_argument", message);

function monitorIdOf(value: string | undefined): string {
  if (value === undefined || value === "") throw invalid("monitor_id is required");
  const parsed = MonitorId.safeParse(value);
  if (!parsed.success) throw invalid("monitor_id is invalid");
  return parsed.data;
}

/**
 * Seed 002 answers 400 where the modern API distinguishes 404 / 409 ("the monitor_id is invalid",
 * "the monitor_id already exists"): the same message, as that API's status.
 */
const asBadRequest =
  (...codes: ErrorCode[]) =>
  (err: unknown): never => {
    if (isTrellisError(err) && codes.includes(err.code)) {
      throw new TrellisError("invalid_argument", err.message, { cause: err });
    }
    throw natsPayloadTooLarge(err);
  };

/**
 * The monitor endpoints of the Altoponix API (seed 002), unchanged. Permissions (the seed's table)
 * are enforced by telemetry from `actor`; the gateway checks the ids' shape and the envelope.
 */
export function registerTelemetryV1(router: Router, nc: NatsConnection, mount: Mount): void {
  const r = telemetryV1Routes;

  mount(router, r.monitorsGet, async ({ principal: actor, query, requestId }) => {
    const monitorId = query.monitor_id === undefined ? undefined : monitorIdOf(query.monitor_id);
    const data = await request(
      nc,
      telemetryCatalog.v1Get,
      {
        actor,
        ...(monitorId !== undefined ? { monitorId } : {}),
        ...(query.startTime !== undefined ? { startTime: query.startTime } : {}),
        ...(query.endTime !== undefined ? { endTime: query.endTime } : {}),
      },
      { requestId },
    ).catch(asBadRequest("not_found"));
    return ok(data);
  });

  mount(router, r.monitorsUpdate, async ({ principal: actor, body, requestId }) => {
    const monitorId = monitorIdOf(body.monitor_id ?? body.id);
    // Only the seed's fields travel (extra fields are ignored, as the seed's server did); `null`
    // means "not measured". The reading is checked here so a bad one is a 400 at once.
    const fields: Record<string, unknown> = {};
    for (const key of [...MEASUREMENTS, ...STRING_FIELDS]) {
      const value = body[key];
      if (value !== undefined && value !== null) fields[key] = value;
    }
    const reading = Reading.safeParse(fields);
    if (!reading.success) {
      throw invalid(
        reading.error.issues.map((i) => (i.path.length ? `${i.path.join(".")}: ` : "") + i.message).join("; "),
      );
    }
    await request(nc, telemetryCatalog.submitReading, { actor, monitorId, reading: reading.data }, { requestId }).catch(
      asBadRequest("not_found"),
    );
    return ok(null);
  });

  mount(router, r.monitorsAdd, async ({ principal: actor, body, requestId }) => {
    const monitorId = monitorIdOf(body.monitor_id);
    const ownerId = UserId.safeParse(body.user_id);
    if (!ownerId.success) throw invalid("user_id is invalid");
    await request(
      nc,
      telemetryCatalog.addMonitor,
      { actor, monitorId, ownerId: ownerId.data, password: body.password },
      { requestId },
    ).catch(asBadRequest("conflict", "not_found"));
    return ok(null);
  });

  mount(router, r.monitorsReset, async ({ principal: actor, body, requestId }) => {
    const monitorId = monitorIdOf(body.monitor_id);
    await request(nc, telemetryCatalog.resetMonitor, { actor, monitorId }, { requestId }).catch(
      asBadRequest("not_found"),
    );
    return ok(null);
  });

  mount(router, r.monitorsDelete, async ({ principal: actor, body, requestId }) => {
    const monitorId = monitorIdOf(body.monitor_id);
    await request(nc, telemetryCatalog.deleteMonitor, { actor, monitorId }, { requestId }).catch(
      asBadRequest("not_found"),
    );
    return ok(null);
  });
}
