import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { DEAD_LETTER_STREAM, DeadLetter, deadLetterSubject, TrellisError } from "@trellis/contracts";
import { poll, uniqueSuffix } from "@trellis/stack/testing";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { consume, type DurableConsumer, type MessageContext, PoisonMessageError } from "./consume.ts";
import { ensureDeadLetterStream } from "./dead-letter.ts";
import { type DurableSpec, ensureDurableConsumer, ensureStream } from "./jetstream.ts";
import { encodeJson } from "./serve.ts";

const stack = inject("stack");
const Job = z.object({ id: z.string(), fail: z.enum(["never", "once", "always", "poison", "unavailable"]) });
type Job = z.infer<typeof Job>;

let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
const streams: string[] = [];
const running: DurableConsumer[] = [];

beforeAll(async () => {
  nc = await connect({ servers: stack.natsUrl, user: stack.natsUser, pass: stack.natsPassword });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
});

afterAll(async () => {
  await Promise.all(running.map((c) => c.stop()));
  for (const name of streams) await jsm.streams.delete(name).catch(() => {});
  await nc?.close();
});

/** A stream and durable consumer of its own, and a consume loop over it recording what the handler saw. */
async function setup(
  handler: (job: Job, ctx: MessageContext) => Promise<void> | void,
  consumer: Partial<DurableSpec> = {},
) {
  const suffix = uniqueSuffix();
  const stream = `T_CONSUME_${suffix}`;
  const subject = `test.consume.${suffix}.jobs`;
  const durable = `worker-${suffix}`;
  streams.push(stream);
  await ensureStream(jsm, { name: stream, subjects: [subject] });
  await ensureDurableConsumer(jsm, stream, { durable_name: durable, ...consumer });
  const seen: { job: Job; ctx: MessageContext; at: number }[] = [];
  const lines: string[] = [];
  const loop = await consume(nc, {
    service: "media",
    stream,
    consumer: durable,
    schema: Job,
    retry: { delayMs: 100, factor: 2, maxDelayMs: 400 },
    log: pino({ level: "debug" }, { write: (l: string) => void lines.push(l) }),
    handler: async (job, ctx) => {
      seen.push({ job, ctx, at: performance.now() });
      await handler(job, ctx);
    },
  });
  running.push(loop);
  const publish = async (payload: unknown, h?: ReturnType<typeof headers>) =>
    (await js.publish(subject, typeof payload === "string" ? payload : encodeJson(payload), h ? { headers: h } : {}))
      .seq;
  /** Waits until every message up to `seq` is settled (acked or termed) and none is pending. */
  const settled = async (seq: number) => {
    const { value } = await poll(
      () => jsm.consumers.info(stream, durable),
      (i) => i.ack_floor.stream_seq >= seq && i.num_ack_pending === 0 && i.num_pending === 0,
      { timeoutMs: 10_000, intervalMs: 25 },
    );
    return value;
  };
  const dlSubject = deadLetterSubject("media", durable);
  /** The dead-letter records of this consumer (waits for `count` of them). */
  const deadLetters = async (count: number): Promise<DeadLetter[]> => {
    const reader = await js.consumers.get(DEAD_LETTER_STREAM, { filter_subjects: [dlSubject] });
    const out: DeadLetter[] = [];
    const batch = await reader.fetch({ max_messages: count, expires: 5_000 });
    for await (const m of batch) out.push(DeadLetter.parse(m.json()));
    return out;
  };
  const deadLetterCount = async () =>
    (await jsm.streams.info(DEAD_LETTER_STREAM, { subjects_filter: dlSubject })).state.subjects?.[dlSubject] ?? 0;
  return { stream, subject, durable, loop, seen, lines, publish, settled, deadLetters, deadLetterCount };
}

describe("consume", () => {
  it("hands a valid message to the handler, typed, with its context, and acks it", async () => {
    const t = await setup(() => {});
    const h = headers();
    h.set("Trellis-Request-Id", "req-1");
    const seq = await t.publish({ id: "a", fail: "never" }, h);
    const info = await t.settled(seq);
    expect(info.num_redelivered).toBe(0);
    expect(t.seen).toHaveLength(1);
    const { job, ctx } = t.seen[0] ?? expect.unreachable();
    expect(job).toEqual({ id: "a", fail: "never" });
    expect(ctx).toMatchObject({ seq, subject: t.subject, deliveryCount: 1, lastAttempt: false });
    expect(ctx.headers?.get("Trellis-Request-Id")).toBe("req-1");
  });

  it("redelivers after a retryable failure, later, then acks", async () => {
    const t = await setup((job, ctx) => {
      if (job.fail === "once" && ctx.deliveryCount === 1) throw new Error("database briefly away");
      if (job.fail === "unavailable" && ctx.deliveryCount === 1) throw new TrellisError("unavailable", "media down");
    });
    await t.publish({ id: "b", fail: "once" });
    const seq = await t.publish({ id: "c", fail: "unavailable" });
    await t.settled(seq);
    const deliveries = (id: string) => t.seen.filter((s) => s.job.id === id);
    expect(deliveries("b").map((s) => s.ctx.deliveryCount)).toEqual([1, 2]);
    expect(deliveries("c").map((s) => s.ctx.deliveryCount)).toEqual([1, 2]);
    // Not at once: after the nak's delay.
    const [firstB, secondB] = deliveries("b").map((s) => s.at);
    expect((secondB ?? 0) - (firstB ?? 0)).toBeGreaterThanOrEqual(90);
    const retried = t.lines.map((l) => JSON.parse(l)).filter((l) => l.msg === "message handling failed; will retry");
    expect(retried.map((l) => l.delayMs)).toEqual([100, 100]);
    expect(await t.deadLetterCount()).toBe(0);
  });

  it("terms poison messages at once and records each in the dead-letter stream", async () => {
    const t = await setup((job) => {
      if (job.fail === "poison") throw new PoisonMessageError(`job ${job.id} cannot exist`);
    });
    const h = headers();
    h.set("Nats-Msg-Id", "bad-json-1");
    await t.publish("{not json", h);
    await t.publish({ id: 5, fail: "never" });
    const last = await t.publish({ id: "p", fail: "poison" });
    const after = await t.publish({ id: "ok", fail: "never" });
    await t.settled(after);

    const records = await t.deadLetters(3);
    expect(await t.deadLetterCount()).toBe(3);
    expect(records.map((r) => r.kind)).toEqual(["invalid_json", "schema_violation", "unrecoverable"]);
    expect(records[0]).toMatchObject({
      service: "media",
      stream: t.stream,
      consumer: t.durable,
      subject: t.subject,
      deliveryCount: 1,
      reason: "payload is not valid JSON",
      payload: "{not json",
      payloadEncoding: "utf8",
      headers: { "Nats-Msg-Id": ["bad-json-1"] },
    });
    expect(records[1]?.reason).toMatch(/^invalid message: id: /);
    expect(records[2]).toMatchObject({ streamSequence: last, reason: "job p cannot exist" });
    // Only the schema-valid ones reached the handler, each once; the good one after them was acked.
    expect(t.seen.map((s) => s.job.id)).toEqual(["p", "ok"]);
    await new Promise((r) => setTimeout(r, 300));
    expect(t.seen).toHaveLength(2);
  });

  it("dead-letters a message whose max_deliver attempts all failed", async () => {
    const t = await setup(
      () => {
        throw new Error("still failing");
      },
      { max_deliver: 3 },
    );
    const seq = await t.publish({ id: "m", fail: "always" });
    const [record] = await t.deadLetters(1);
    expect(record).toMatchObject({
      kind: "max_deliver",
      streamSequence: seq,
      deliveryCount: 3,
      reason: "failed on all 3 deliveries; last error: still failing",
    });
    expect(t.seen.map((s) => [s.ctx.deliveryCount, s.ctx.lastAttempt])).toEqual([
      [1, false],
      [2, false],
      [3, true],
    ]);
    await t.settled(seq);
  });

  it("stop() waits for the message in hand, settles it, and pulls nothing more; idempotent", async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const t = await setup(async (job) => {
      if (job.id === "slow") await gate;
    });
    const seq = await t.publish({ id: "slow", fail: "never" });
    await poll(
      () => t.seen.length,
      (n) => n === 1,
    );
    let stopped = false;
    const stopping = t.loop.stop().then(() => {
      stopped = true;
    });
    expect(t.loop.stop()).toBe(t.loop.stop());
    await new Promise((r) => setTimeout(r, 200));
    expect(stopped).toBe(false);
    release();
    await stopping;
    // Settled by the time stop() resolved: no need to poll.
    const info = await jsm.consumers.info(t.stream, t.durable);
    expect(info.ack_floor.stream_seq).toBe(seq);
    expect(info.num_ack_pending).toBe(0);
    expect(await t.loop.closed()).toBeUndefined();

    await t.publish({ id: "later", fail: "never" });
    await new Promise((r) => setTimeout(r, 300));
    expect(t.seen.map((s) => s.job.id)).toEqual(["slow"]);
  });

  // Last in the file: it deletes the shared dead-letter stream for a moment.
  it("a poison message is not lost while its dead letter cannot be stored: kept, and recorded later", async () => {
    const t = await setup(() => {});
    await jsm.streams.delete(DEAD_LETTER_STREAM);
    const seq = await t.publish("{lost?");
    const failed = () => t.lines.filter((l) => l.includes("dead-lettering failed; message kept")).length;
    expect((await poll(failed, (n) => n >= 2)).value).toBeGreaterThanOrEqual(2);
    await ensureDeadLetterStream(jsm);
    const [record] = await t.deadLetters(1);
    expect(record).toMatchObject({ kind: "invalid_json", streamSequence: seq, payload: "{lost?" });
    expect(record?.deliveryCount).toBeGreaterThanOrEqual(3);
    await t.settled(seq);
  });
});
