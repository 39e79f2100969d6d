import { connect, type NatsConnection } from "@nats-io/transport-node";
import { poll, uniqueSuffix } from "@trellis/stack/testing";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { noticePublisher, onNotice } from "./events.ts";
import { onNatsStatus } from "./nats.ts";

const stack = inject("stack");
const connectToStack = () =>
  connect({ servers: stack.natsUrl, user: stack.natsUser, pass: stack.natsPassword, reconnectTimeWait: 50 });

let a: NatsConnection;
let b: NatsConnection;

beforeAll(async () => {
  [a, b] = await Promise.all([connectToStack(), connectToStack()]);
});

afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
});

describe("notices", () => {
  it("reach every listener validated; a malformed one is skipped with a warning; a bad payload is not sent", async () => {
    const notice = { subject: `test.notices.${uniqueSuffix()}`, schema: z.object({ monitorId: z.string() }) };
    const warnings: unknown[] = [];
    const log = pino({ level: "warn" }, { write: (line: string) => void warnings.push(JSON.parse(line)) });
    const heardA: unknown[] = [];
    const heardB: unknown[] = [];
    const subs = [onNotice(a, notice, (n) => heardA.push(n), log), onNotice(b, notice, (n) => heardB.push(n))];
    await Promise.all([a.flush(), b.flush()]);

    const notices = noticePublisher(a);
    expect(() => notices.publish(notice, { monitorId: 7 } as never)).toThrow();
    b.publish(notice.subject, "{not json");
    b.publish(notice.subject, JSON.stringify({ other: 1 }));
    notices.publish(notice, { monitorId: "m1" });
    await poll(
      async () => heardA.length + heardB.length,
      (n) => n >= 2,
      { timeoutMs: 5_000, intervalMs: 10 },
    );
    expect(heardA).toEqual([{ monitorId: "m1" }]);
    expect(heardB).toEqual([{ monitorId: "m1" }]);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatchObject({ subject: notice.subject, msg: "malformed notice ignored" });
    for (const s of subs) s.unsubscribe();
  });
});

describe("onNatsStatus", () => {
  it("reports status changes until stopped", async () => {
    const nc = await connectToStack();
    try {
      const seen: string[] = [];
      const witness: string[] = [];
      const stop = onNatsStatus(nc, (s) => seen.push(s.type));
      const stopWitness = onNatsStatus(nc, (s) => witness.push(s.type));
      const reconnected = (times: number) =>
        poll(
          async () => witness.filter((t) => t === "reconnect").length,
          (n) => n >= times,
          { timeoutMs: 5_000, intervalMs: 10 },
        );
      void nc.reconnect().catch(() => {});
      await reconnected(1);
      expect(seen).toContain("reconnect");
      stop();
      const before = seen.length;
      void nc.reconnect().catch(() => {});
      expect((await reconnected(2)).value).toBe(2);
      expect(seen).toHaveLength(before);
      stopWitness();
    } finally {
      await nc.close();
    }
  });
});
