/**
 * The gateway's JetStream → SSE bridge on its own, with a real NATS server: what it sends, when it
 * ends, that it leaves no consumer behind and that a revoked session ends it. The analysis events
 * and live readings routes that use it are tested end to end in tests/.
 */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { lastTokenOf } from "@trellis/contracts";
import { poll, uniqueSuffix } from "@trellis/stack/testing";
import express from "express";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parseSseBlock, type ReceivedEvent } from "../../../../tests/support/sse.ts";
import { type JetStreamSseSpec, jetStreamSse, REVOCATION_CHECK_MS } from "./jetstream-sse.ts";

const stack = inject("stack");
const silent = pino({ level: "silent" });
const STREAM = `T_SSE_${uniqueSuffix()}`;
const PREFIX = `test.sse.${uniqueSuffix()}`;

let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
let server: Server;
let base: string;
/** The spec the next request streams (the route reads it when it is called). */
let next: () => JetStreamSseSpec;

const spec = (over: Partial<JetStreamSseSpec>): JetStreamSseSpec => ({
  stream: STREAM,
  filter: [`${PREFIX}.>`],
  startSeq: 1,
  eventOf: lastTokenOf,
  revoked: () => false,
  label: "test stream",
  consumerPrefix: "test",
  ...over,
});

const publish = async (kind: string): Promise<number> =>
  (await js.publish(`${PREFIX}.a.${kind}`, JSON.stringify({ kind }))).seq;

const consumers = async (): Promise<number> => (await jsm.consumers.list(STREAM).next()).length;

/** Opens the stream and reads its events as they come; `ended` resolves when the server ends it. */
async function open(): Promise<{ events: ReceivedEvent[]; ended: Promise<void>; close(): void }> {
  const controller = new AbortController();
  const res = await fetch(`${base}/events`, { signal: controller.signal });
  expect(res.status).toBe(200);
  const events: ReceivedEvent[] = [];
  const ended = (async () => {
    let pending = "";
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        pending += decoder.decode(chunk, { stream: true });
        for (let cut = pending.indexOf("\n\n"); cut >= 0; cut = pending.indexOf("\n\n")) {
          const e = parseSseBlock(pending.slice(0, cut));
          if (e) events.push(e);
          pending = pending.slice(cut + 2);
        }
      }
    } catch {
      // aborted by close()
    }
  })();
  return { events, ended, close: () => controller.abort() };
}

beforeAll(async () => {
  nc = await connect({ servers: stack.natsUrl, user: stack.natsUser, pass: stack.natsPassword });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: STREAM, subjects: [`${PREFIX}.>`] });
  const bridge = jetStreamSse(nc);
  const app = express();
  app.use((req, _res, nextMiddleware) => {
    Object.assign(req, { id: "t", log: silent });
    nextMiddleware();
  });
  app.get("/events", (req, res) => void bridge.stream(req, res, next()));
  server = app.listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  await jsm?.streams.delete(STREAM).catch(() => undefined);
  await nc?.close();
});

describe("jetStreamSse", () => {
  it("sends from startSeq with the sequence as id and the parsed kind as event, ends after stopWhen, deletes its consumer", async () => {
    const first = await publish("progress");
    await publish("progress");
    const third = await publish("completed");
    next = () => spec({ startSeq: first + 1, stopWhen: ({ event }) => event === "completed" });
    const stream = await open();
    await stream.ended;
    expect(stream.events.map((e) => [Number(e.id), e.event])).toEqual([
      [first + 1, "progress"],
      [third, "completed"],
    ]);
    expect(await consumers()).toBe(0);
  });

  it("ends at endSeq, and at once when startSeq is past it", async () => {
    const a = await publish("progress");
    const b = await publish("progress");
    next = () => spec({ startSeq: a, endSeq: a });
    const one = await open();
    await one.ended;
    expect(one.events.map((e) => Number(e.id))).toEqual([a]);
    next = () => spec({ startSeq: b + 1, endSeq: b });
    const none = await open();
    await none.ended;
    expect(none.events).toEqual([]);
    expect(await consumers()).toBe(0);
  });

  it("deletes its consumer when the client leaves", async () => {
    const seq = await publish("progress");
    next = () => spec({ startSeq: seq });
    const stream = await open();
    await poll(
      async () => stream.events.length,
      (n) => n >= 1,
      { timeoutMs: 5_000 },
    );
    expect(await consumers()).toBe(1);
    stream.close();
    const { value } = await poll(consumers, (n) => n === 0, { timeoutMs: 5_000 });
    expect(value).toBe(0);
  });

  it("ends with an error event once the session is revoked, and leaves no consumer", async () => {
    let revoked = false;
    next = () => spec({ startSeq: 1, revoked: () => revoked });
    const stream = await open();
    await poll(consumers, (n) => n === 1, { timeoutMs: 5_000 });
    revoked = true;
    const t0 = Date.now();
    await stream.ended;
    expect(Date.now() - t0).toBeLessThan(REVOCATION_CHECK_MS * 3);
    expect(stream.events.at(-1)).toMatchObject({ event: "error", data: { message: "the session was revoked" } });
    const { value } = await poll(consumers, (n) => n === 0, { timeoutMs: 5_000 });
    expect(value).toBe(0);
  });

  it("follows nothing with an empty filter, yet still ends on revocation", async () => {
    let revoked = false;
    next = () => spec({ filter: [], revoked: () => revoked });
    const stream = await open();
    await publish("progress");
    expect(await consumers()).toBe(0);
    revoked = true;
    await stream.ended;
    expect(stream.events.map((e) => e.event)).toEqual(["error"]);
  });
});
