import {
  type ErrorCode,
  isTrellisError,
  MonitorId,
  TrellisError,
  telemetryCatalog,
  telemetryV1Routes,
  UserId,
} from "@trellis/contracts";
import type { Router } from "express";
import { ok, sendOkStream } from "../compat/envelope.ts";
import { readingFromV1Update } from "../compat/v1-update.ts";
import type { Mount } from "../http/mount.ts";
import { natsPayloadTooLarge } from "./telemetry-v2.ts";

const invalid = (message: string) => new TrellisError("invalid_argument", message);

function monitorIdOf(value: string | undefined): string {
  if (value === undefined || value === "") throw invalid("monitor_id is required");
  const parsed = MonitorId.safeParse(value);
  if (!parsed.success) throw invalid("monitor_id is invalid");
  return parsed.data;
}

/**
 * Seed 002 answers 400 where the modern API distinguishes 404 / 409 ("the monitor_id is invalid",
 * "the monitor_id already exists"): the same message, as that API's status. This is the only
 * place that rule is applied; telemetry answers as it does for the modern API.
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
 * are enforced by telemetry from `actor`; the gateway applies the seed's input rules and envelope.
 */
export function registerTelemetryV1(router: Router, mount: Mount): void {
  const r = telemetryV1Routes;

  /** Streamed: every monitor with its history is tens of MB; no hop holds it whole. */
  mount(router, r.monitorsGet, async ({ query, call, req, res }) => {
    const monitorId = query.monitor_id === undefined ? undefined : monitorIdOf(query.monitor_id);
    const stream = await call
      .stream(telemetryCatalog.v1Get, {
        ...(monitorId !== undefined ? { monitorId } : {}),
        ...(query.startTime !== undefined ? { startTime: query.startTime } : {}),
        ...(query.endTime !== undefined ? { endTime: query.endTime } : {}),
      })
      .catch(asBadRequest("not_found"));
    await sendOkStream(req, res, stream);
    return undefined;
  });

  mount(router, r.monitorsUpdate, async ({ body, call, req, principal }) => {
    const monitorId = monitorIdOf(body.monitor_id ?? body.id);
    const { reading, skipped } = readingFromV1Update(body);
    if (skipped.length > 0) req.log.info({ monitorId, skipped }, "v1 update: fields of the wrong type skipped");
    // Answers once the reading is stored and visible (the original wrote before answering).
    await call(telemetryCatalog.submitReading, { monitorId, reading })
      .catch((err: unknown) => {
        // Telemetry answers /api/v2's `not_found` to a monitor token naming another monitor; seed 002 says 403.
        if (
          isTrellisError(err) &&
          err.code === "not_found" &&
          principal.kind === "monitor" &&
          principal.monitorId !== monitorId
        ) {
          throw new TrellisError("forbidden", "the token does not match the monitor_id", { cause: err });
        }
        throw err;
      })
      .catch(asBadRequest("not_found"));
    return ok(null);
  });

  mount(router, r.monitorsAdd, async ({ body, call }) => {
    const monitorId = monitorIdOf(body.monitor_id);
    const ownerId = UserId.safeParse(body.user_id);
    if (!ownerId.success) throw invalid("user_id is invalid");
    await call(telemetryCatalog.addMonitor, { monitorId, ownerId: ownerId.data, password: body.password }).catch(
      asBadRequest("conflict", "not_found"),
    );
    return ok(null);
  });

  mount(router, r.monitorsReset, async ({ body, call }) => {
    await call(telemetryCatalog.resetMonitor, { monitorId: monitorIdOf(body.monitor_id) }).catch(
      asBadRequest("not_found"),
    );
    return ok(null);
  });

  mount(router, r.monitorsDelete, async ({ body, call }) => {
    await call(telemetryCatalog.deleteMonitor, { monitorId: monitorIdOf(body.monitor_id) }).catch(
      asBadRequest("not_found"),
    );
    return ok(null);
  });
}
