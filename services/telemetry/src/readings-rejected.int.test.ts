/**
 * Invalid readings (not JSON, unknown or non-numeric measurements, nothing to update, an unknown
 * monitor) are rejected by telemetry's ingest with a reason: a `reading_rejected` event, a counter
 * and a warning; never stored, never dropped silently.
 */
import type { Subscription } from "@nats-io/transport-node";
import { telemetryEvents } from "@trellis/contracts";
import { decodeJson } from "@trellis/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { monitorId, until, useTelemetryService } from "../test/int-fixture.ts";

const tel = useTelemetryService();
const rejections: { monitorId: string; reason: string }[] = [];
let rejectedSub: Subscription;

beforeAll(async () => {
  rejectedSub = tel.nc.subscribe(telemetryEvents.readingRejected.subject, {
    callback: (_err, msg) => void rejections.push(telemetryEvents.readingRejected.schema.parse(decodeJson(msg.data))),
  });
  await tel.nc.flush();
});

afterAll(() => rejectedSub?.unsubscribe());

describe("ingest", () => {
  it("rejects invalid readings with a reason, counted and never stored", async () => {
    const owner = await tel.registerUser();
    const { id } = await tel.addMonitor(owner.id);
    const unknown = monitorId();
    const before = rejections.length;
    await tel.publishRaw(id, '{"ph":7,"colour":"green"}');
    await tel.publishRaw(id, '{"ph":"seven"}');
    await tel.publishRaw(id, '{"ph":1e999}');
    await tel.publishRaw(id, '{"timestamp":1700000000000}');
    await tel.publishRaw(id, "{not json");
    await tel.publishReading(unknown, { ph: 7 });
    const seen = await until(
      async () => rejections.slice(before),
      (r) => r.length >= 6,
    );
    const reasons = seen.filter((r) => r.monitorId === id).map((r) => r.reason);
    expect(reasons).toHaveLength(5);
    expect(reasons).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/Unrecognized key/),
        expect.stringMatching(/ph: must be a number/),
        expect.stringMatching(/ph: must be a/),
        expect.stringMatching(/no measurements could be updated/),
        expect.stringMatching(/not valid JSON/),
      ]),
    );
    expect(seen.find((r) => r.monitorId === unknown)?.reason).toMatch(/monitor_id is invalid/);
    expect(await tel.storedCount(id)).toBe(0);
    const monitor = await until(
      () => tel.getMonitor(id),
      (m) => m.readingsRejected === 5,
    );
    expect(monitor).toMatchObject({ readingsStored: 0, readingsRejected: 5, lastReadingAt: null });
    expect(tel.telemetry.logs.some((l) => l.msg === "reading rejected" && l.level === "warn")).toBe(true);
  });
});
