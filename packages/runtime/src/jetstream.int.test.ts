import { AckPolicy, DeliverPolicy, type JetStreamManager, jetstreamManager, StorageType } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { failure, uniqueSuffix } from "@trellis/stack/testing";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { ensureDurableConsumer, ensureStream, isJsApiError, JsApiCodes, nanos, streamExists } from "./jetstream.ts";

const stack = inject("stack");
const connectToStack = () => connect({ servers: stack.natsUrl, user: stack.natsUser, pass: stack.natsPassword });

let nc: NatsConnection;
let other: NatsConnection;
let jsm: JetStreamManager;
const created: string[] = [];

/** A fresh stream name and subject prefix per test; deleted at the end. */
const fresh = () => {
  const suffix = uniqueSuffix();
  const name = `T_SETUP_${suffix}`;
  created.push(name);
  return { name, subjects: [`test.setup.${suffix}.>`] };
};

beforeAll(async () => {
  [nc, other] = await Promise.all([connectToStack(), connectToStack()]);
  jsm = await jetstreamManager(nc);
});

afterAll(async () => {
  for (const name of created) await jsm.streams.delete(name).catch(() => {});
  await Promise.all([nc?.close(), other?.close()]);
});

describe("ensureStream", () => {
  it("creates a missing stream, leaves an identical one alone and updates a different one", async () => {
    const s = fresh();
    const spec = { ...s, storage: StorageType.File, max_age: nanos(60_000), max_msg_size: 1024 };
    const made = await ensureStream(nc, spec);
    expect(made.action).toBe("created");
    expect(made.info.config).toMatchObject({ max_age: nanos(60_000), max_msg_size: 1024 });

    expect((await ensureStream(jsm, spec)).action).toBe("unchanged");

    const more = { ...spec, max_age: nanos(120_000), subjects: [...s.subjects, `${s.name}.extra`] };
    const updated = await ensureStream(jsm, more);
    expect(updated.action).toBe("updated");
    expect(updated.warnings).toEqual([]);
    const info = await jsm.streams.info(s.name);
    expect(info.config.max_age).toBe(nanos(120_000));
    expect(info.config.subjects).toEqual(more.subjects);
    // Fields a caller does not give keep their value (another service may own them).
    await ensureStream(nc, { name: s.name, subjects: more.subjects });
    expect((await jsm.streams.info(s.name)).config.max_msg_size).toBe(1024);
  });

  it("keeps the storage of an existing stream, reports it, and still applies the rest", async () => {
    const s = fresh();
    await jsm.streams.add({ ...s, storage: StorageType.Memory });
    const result = await ensureStream(nc, { ...s, storage: StorageType.File, max_msgs: 50 });
    expect(result.action).toBe("updated");
    expect(result.warnings).toEqual([
      expect.objectContaining({ field: "storage", wanted: StorageType.File, actual: StorageType.Memory }),
    ]);
    const info = await jsm.streams.info(s.name);
    expect(info.config.storage).toBe(StorageType.Memory);
    expect(info.config.max_msgs).toBe(50);
  });

  it("two instances starting at once: both succeed, one stream", async () => {
    const s = fresh();
    const spec = { ...s, max_age: nanos(30_000) };
    const results = await Promise.all([ensureStream(nc, spec), ensureStream(other, spec)]);
    expect(results.map((r) => r.action)).toContain("created");
    expect(results.every((r) => r.info.config.name === s.name)).toBe(true);
    expect((await jsm.streams.info(s.name)).config.max_age).toBe(nanos(30_000));
  });

  it("two instances with different settings at once (a rolling deploy): both succeed", async () => {
    const s = fresh();
    const older = { ...s, max_msgs: 10 };
    const newer = { ...s, max_msgs: 20 };
    const results = await Promise.all([ensureStream(nc, older), ensureStream(other, newer)]);
    expect(results.map((r) => r.action).sort()[0]).toBe("created");
    expect([10, 20]).toContain((await jsm.streams.info(s.name)).config.max_msgs);
  });

  it("nats.js reports a conflicting create with the code ensureStream expects", async () => {
    const s = fresh();
    await jsm.streams.add(s);
    const err = await failure(jsm.streams.add({ ...s, max_msgs: 5 }));
    expect(isJsApiError(err, JsApiCodes.StreamNameInUse)).toBe(true);
    const missing = await failure(jsm.streams.info(`${s.name}_NONE`));
    expect(isJsApiError(missing, JsApiCodes.StreamNotFound)).toBe(true);
  });
});

describe("streamExists", () => {
  it("tells an existing stream from a missing one", async () => {
    const s = fresh();
    expect(await streamExists(nc, s.name)).toBe(false);
    await ensureStream(jsm, s);
    expect(await streamExists(jsm, s.name)).toBe(true);
  });
});

describe("ensureDurableConsumer", () => {
  it("creates with explicit acks from the start, is idempotent, and updates what JetStream allows", async () => {
    const s = fresh();
    await ensureStream(jsm, s);
    const spec = { durable_name: "worker", ack_wait: nanos(10_000), filter_subject: s.subjects[0] as string };
    const made = await ensureDurableConsumer(nc, s.name, spec);
    expect(made.action).toBe("created");
    expect(made.info.config).toMatchObject({ ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All });

    expect((await ensureDurableConsumer(jsm, s.name, spec)).action).toBe("unchanged");

    const updated = await ensureDurableConsumer(jsm, s.name, { ...spec, ack_wait: nanos(20_000), max_deliver: 4 });
    expect(updated.action).toBe("updated");
    const info = await jsm.consumers.info(s.name, "worker");
    expect(info.config).toMatchObject({ ack_wait: nanos(20_000), max_deliver: 4 });
  });

  it("keeps a setting fixed at creation and reports it", async () => {
    const s = fresh();
    await ensureStream(jsm, s);
    await ensureDurableConsumer(jsm, s.name, { durable_name: "w" });
    const result = await ensureDurableConsumer(jsm, s.name, {
      durable_name: "w",
      deliver_policy: DeliverPolicy.New,
      max_ack_pending: 7,
    });
    expect(result.warnings.map((w) => w.field)).toEqual(["deliver_policy"]);
    const info = await jsm.consumers.info(s.name, "w");
    expect(info.config.deliver_policy).toBe(DeliverPolicy.All);
    expect(info.config.max_ack_pending).toBe(7);
  });

  it("two instances starting at once, with the same or different settings: both succeed, one consumer", async () => {
    const s = fresh();
    await ensureStream(jsm, s);
    const same = { durable_name: "same", ack_wait: nanos(15_000) };
    const results = await Promise.all([
      ensureDurableConsumer(nc, s.name, same),
      ensureDurableConsumer(other, s.name, same),
    ]);
    expect(results.map((r) => r.action)).toContain("created");

    const differ = await Promise.all([
      ensureDurableConsumer(nc, s.name, { durable_name: "differ", max_deliver: 3 }),
      ensureDurableConsumer(other, s.name, { durable_name: "differ", max_deliver: 6 }),
    ]);
    expect(differ.map((r) => r.action)).toContain("created");
    expect([3, 6]).toContain((await jsm.consumers.info(s.name, "differ")).config.max_deliver);
    const names: string[] = [];
    for await (const c of jsm.consumers.list(s.name)) names.push(c.name);
    expect(names.sort()).toEqual(["differ", "same"]);
  });

  it("nats.js reports a conflicting create and a missing consumer with the codes it expects", async () => {
    const s = fresh();
    await ensureStream(jsm, s);
    await jsm.consumers.add(s.name, { durable_name: "c", ack_policy: AckPolicy.Explicit });
    const err = await failure(
      jsm.consumers.add(s.name, { durable_name: "c", ack_policy: AckPolicy.Explicit, max_deliver: 2 }),
    );
    expect(isJsApiError(err, JsApiCodes.ConsumerAlreadyExists)).toBe(true);
    const missing = await failure(jsm.consumers.info(s.name, "none"));
    expect(isJsApiError(missing, JsApiCodes.ConsumerNotFound)).toBe(true);
  });
});
