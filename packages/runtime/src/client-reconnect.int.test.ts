/**
 * `request`'s `idempotent` option against a NATS server of this file's own, stopped and started
 * again while a request waits: the request is lost with the connection, and only an idempotent
 * call is sent once more on the new one.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { endpoint, streamEndpoint, TrellisError } from "@trellis/contracts";
import { type Dependency, startNats } from "@trellis/stack";
import { eventually, poll, uniqueSuffix } from "@trellis/stack/testing";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { request, requestStream } from "./client.ts";
import { connectNats, natsReconnects } from "./nats.ts";
import { type Server, serve } from "./serve.ts";

const prefix = `test${uniqueSuffix()}`;
const catalog = {
  read: endpoint({
    subject: `${prefix}.v1.read`,
    request: z.object({ case: z.string() }),
    reply: z.object({ answeredCall: z.number() }),
    description: "test",
  }),
  readBytes: streamEndpoint({
    subject: `${prefix}.v1.read-bytes`,
    request: z.object({ case: z.string() }),
    meta: z.object({ answeredCall: z.number() }),
    contentType: "application/octet-stream",
    description: "test",
  }),
};

let nats: Dependency;
let client: NatsConnection;
let service: NatsConnection;
let server: Server;
/** Calls received per case; the first call of a case that asks for it is never answered. */
const calls = new Map<string, number>();
const unanswered = new Set<string>();
/** Lets the unanswered handlers return at the end (the server's stop waits for its handlers). */
let release: () => void = () => undefined;
const released = new Promise<void>((resolve) => {
  release = resolve;
});

/** A connection as a service makes it (the runtime's connectNats: reconnect forever, its timeouts). */
const connectOwn = (name: string): Promise<NatsConnection> =>
  connectNats({
    servers: nats.url,
    name,
    user: nats.natsAuth?.user,
    pass: nats.natsAuth?.password,
    log: pino({ level: "silent" }),
  });

beforeAll(async () => {
  nats = await startNats();
  client = await connectOwn("reconnect-test-client");
  service = await connectOwn("reconnect-test-service");
  server = serve(
    service,
    catalog,
    {
      read: async ({ case: name }) => {
        const n = (calls.get(name) ?? 0) + 1;
        calls.set(name, n);
        // The reply to this call is never sent, as if it were lost with the node.
        if (n === 1 && unanswered.has(name)) await released;
        return { answeredCall: n };
      },
      readBytes: async ({ case: name }) => {
        const n = (calls.get(name) ?? 0) + 1;
        calls.set(name, n);
        if (n === 1 && unanswered.has(name)) await released;
        return { meta: { answeredCall: n }, body: [`call ${n}`] };
      },
    },
    { queue: "reconnect", log: pino({ level: "silent" }) },
  );
  await service.flush();
}, 60_000);

afterAll(async () => {
  release();
  await server?.stop();
  await client?.close();
  await service?.close();
  await nats?.stop();
});

/** Sends a call whose first delivery is never answered, and restarts NATS once the service has it. */
async function callAcrossRestart(name: string, idempotent: boolean, restart = true) {
  return acrossRestart(name, restart, () =>
    request(client, catalog.read, { case: name }, { timeoutMs: 4_000, idempotent }),
  );
}

/** The same for a stream endpoint: its metadata and bytes once the stream has started. */
async function streamAcrossRestart(name: string, idempotent: boolean) {
  return acrossRestart(name, true, async () => {
    const stream = await requestStream(client, catalog.readBytes, { case: name }, { timeoutMs: 4_000, idempotent });
    let text = "";
    for await (const chunk of stream.chunks) text += Buffer.from(chunk).toString();
    return { meta: stream.meta, text };
  });
}

async function acrossRestart<T>(name: string, restart: boolean, send: () => Promise<T>) {
  unanswered.add(name);
  const before = natsReconnects(client);
  const pending = send().then(
    (reply) => ({ reply }),
    (err: unknown) => ({ err }),
  );
  await eventually(() => ((calls.get(name) ?? 0) >= 1 ? true : undefined), { timeoutMs: 5_000 });
  if (restart) {
    await nats.outage?.down();
    await nats.outage?.up();
    const { value: reconnected } = await poll(
      () => natsReconnects(client) > before && natsReconnects(service) > 0,
      (ok) => ok,
      { timeoutMs: 10_000 },
    );
    expect(reconnected, "both connections reconnected").toBe(true);
  }
  return pending;
}

describe("request across a NATS reconnect", () => {
  it("an idempotent call lost with the connection is sent once more and answered", async () => {
    const outcome = await callAcrossRestart("idempotent", true);
    expect(outcome).toEqual({ reply: { answeredCall: 2 } });
    expect(calls.get("idempotent")).toBe(2);
  }, 30_000);

  it("a call that is not idempotent is not repeated: it fails with deadline_exceeded", async () => {
    const outcome = await callAcrossRestart("effectful", false);
    expect((outcome as { err: unknown }).err).toBeInstanceOf(TrellisError);
    expect((outcome as { err: TrellisError }).err.code).toBe("deadline_exceeded");
    expect(calls.get("effectful")).toBe(1);
  }, 30_000);

  it("an idempotent stream whose start was lost with the connection is asked once more", async () => {
    const outcome = await streamAcrossRestart("stream-idempotent", true);
    expect(outcome).toEqual({ reply: { meta: { answeredCall: 2 }, text: "call 2" } });
    expect(calls.get("stream-idempotent")).toBe(2);
  }, 30_000);

  it("a stream that is not idempotent is not asked again", async () => {
    const outcome = await streamAcrossRestart("stream-effectful", false);
    expect((outcome as { err: TrellisError }).err.code).toBe("deadline_exceeded");
    expect(calls.get("stream-effectful")).toBe(1);
  }, 30_000);

  it("an idempotent call that timed out without a reconnect is not repeated", async () => {
    const outcome = await callAcrossRestart("no-reconnect", true, false);
    expect((outcome as { err: TrellisError }).err.code).toBe("deadline_exceeded");
    expect(calls.get("no-reconnect")).toBe(1);
  }, 30_000);
});
