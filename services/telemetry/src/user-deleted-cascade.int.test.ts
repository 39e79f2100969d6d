/**
 * auth's user_deleted event removes the user's monitors in telemetry (a durable consumer): also
 * when the user was deleted while telemetry was down; a malformed event is dead-lettered.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { authCatalog, authEvents, DEAD_LETTER_STREAM, DeadLetter, deadLetterSubject } from "@trellis/contracts";
import { encodeJson, request } from "@trellis/runtime";
import { describe, expect, it } from "vitest";
import { failure, until, useTelemetryService } from "../test/int-fixture.ts";

const tel = useTelemetryService();

describe("cascade", () => {
  it("removes the monitors of a user deleted while telemetry was down, once it is back", async () => {
    const { nc, admin, db } = tel;
    const owner = await tel.registerUser();
    const a = await tel.addMonitor(owner.id);
    const b = await tel.addMonitor(owner.id);
    await tel.publishReading(a.id, { ph: 7 });
    await tel.waitForCount(a.id, 1);
    await tel.telemetry.stop();
    await request(nc, authCatalog.deleteUser, { actor: admin, userId: owner.id });
    await tel.startTelemetry();
    const left = await until(
      () => db.collection("monitors").countDocuments({ ownerId: owner.id }),
      (n) => n === 0,
    );
    expect(left).toBe(0);
    expect(await tel.storedCount(a.id)).toBe(0);
    expect((await failure(tel.getMonitor(b.id))).code).toBe("not_found");
  });

  it("dead-letters a malformed user_deleted event and goes on with the next one", async () => {
    const { nc, js, admin, db } = tel;
    const jsm = await jetstreamManager(nc);
    const malformed = await js.publish(authEvents.userDeleted.subject, encodeJson({ userId: "not-a-uuid" }));
    const owner = await tel.registerUser();
    await tel.addMonitor(owner.id);
    await request(nc, authCatalog.deleteUser, { actor: admin, userId: owner.id });
    const left = await until(
      () => db.collection("monitors").countDocuments({ ownerId: owner.id }),
      (n) => n === 0,
    );
    expect(left).toBe(0);

    const subject = deadLetterSubject("telemetry", "telemetry-user-deleted");
    const record = await until(
      async () => {
        const stored = await jsm.streams.getMessage(DEAD_LETTER_STREAM, { last_by_subj: subject }).catch(() => null);
        return stored ? DeadLetter.parse(stored.json()) : null;
      },
      (r) => r?.streamSequence === malformed.seq,
    );
    expect(record).toMatchObject({
      stream: "AUTH_EVENTS",
      subject: authEvents.userDeleted.subject,
      kind: "schema_violation",
      deliveryCount: 1,
      payload: '{"userId":"not-a-uuid"}',
    });
    expect(record?.reason).toMatch(/userId/);
    expect(tel.telemetry.logs.some((l) => l.msg === "message dead-lettered" && l.seq === malformed.seq)).toBe(true);
  });
});
