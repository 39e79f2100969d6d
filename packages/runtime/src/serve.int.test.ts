import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { ErrorBody, endpoint, Headers, TrellisError } from "@trellis/contracts";
import { uniqueSuffix } from "@trellis/stack/testing";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { request } from "./client.ts";
import { decodeJson, encodeJson, type Server, serve } from "./serve.ts";

const prefix = `test${uniqueSuffix()}`;
const catalog = {
  greet: endpoint({
    subject: `${prefix}.v1.greet`,
    request: z.object({ name: z.string().min(1) }).strict(),
    reply: z.object({ greeting: z.string() }),
    description: "test",
  }),
  fail: endpoint({
    subject: `${prefix}.v1.fail`,
    request: z.object({ kind: z.enum(["typed", "bug", "bad-reply"]) }),
    reply: z.object({ ok: z.literal(true) }),
    description: "test",
  }),
  slow: endpoint({
    subject: `${prefix}.v1.slow`,
    request: z.object({ ms: z.number().int().max(5_000) }),
    reply: z.object({ waited: z.number() }),
    description: "test",
  }),
};

let nc: NatsConnection;
let server: Server;
const seen: { subject: string; requestId: string }[] = [];
const lines: string[] = [];

beforeAll(async () => {
  nc = await connect({
    servers: inject("stack").natsUrl,
    user: inject("stack").natsUser,
    pass: inject("stack").natsPassword,
  });
  const log = pino({ level: "debug" }, { write: (l: string) => void lines.push(l) });
  server = serve(
    nc,
    catalog,
    {
      greet: ({ name }, ctx) => {
        seen.push({ subject: "greet", requestId: ctx.requestId });
        return { greeting: `hello ${name}` };
      },
      fail: ({ kind }) => {
        if (kind === "typed") throw new TrellisError("not_found", "no such greeting");
        if (kind === "bug") throw new Error("secret internals mongodb://u:p@h");
        return { ok: "yes" } as never;
      },
      slow: async ({ ms }) => {
        await new Promise((r) => setTimeout(r, ms));
        return { waited: ms };
      },
    },
    { queue: `${prefix}-q`, log },
  );
});

afterAll(async () => {
  await server.stop();
  await nc.close();
});

describe("serve + request over real NATS", () => {
  it("validates on both ends and returns the typed reply", async () => {
    const reply = await request(nc, catalog.greet, { name: "ada" }, { requestId: "req-42" });
    expect(reply).toEqual({ greeting: "hello ada" });
    expect(seen.at(-1)).toEqual({ subject: "greet", requestId: "req-42" });
    expect(lines.some((l) => l.includes('"reqId":"req-42"'))).toBe(true);
  });

  it("refuses an invalid payload before it leaves the caller", async () => {
    const before = seen.length;
    const err = await request(nc, catalog.greet, { name: "" }).catch((e) => e);
    expect(err).toBeInstanceOf(TrellisError);
    expect(err.code).toBe("invalid_argument");
    expect(err.details.issues[0].path).toBe("name");
    expect(seen.length).toBe(before);
  });

  it("the server refuses invalid payloads sent without the typed client", async () => {
    for (const payload of [
      new TextEncoder().encode("{not json"),
      encodeJson({ name: "x", extra: 1 }),
      encodeJson({ name: 5 }),
    ]) {
      const msg = await nc.request(catalog.greet.subject, payload, { timeout: 2_000 });
      expect(msg.headers?.get(Headers.errorCode)).toBe("invalid_argument");
      expect(ErrorBody.parse(decodeJson(msg.data)).code).toBe("invalid_argument");
    }
  });

  it("a typed error crosses NATS with its code and message", async () => {
    const err = await request(nc, catalog.fail, { kind: "typed" }).catch((e) => e);
    expect(err).toBeInstanceOf(TrellisError);
    expect(err.code).toBe("not_found");
    expect(err.message).toBe("no such greeting");
  });

  it("an unexpected exception becomes `internal` without leaking its message", async () => {
    const err = await request(nc, catalog.fail, { kind: "bug" }).catch((e) => e);
    expect(err.code).toBe("internal");
    expect(err.message).toBe("internal error");
    expect(err.message).not.toContain("mongodb://");
  });

  it("a handler reply that violates its schema is an internal error, not bad data", async () => {
    const err = await request(nc, catalog.fail, { kind: "bad-reply" }).catch((e) => e);
    expect(err.code).toBe("internal");
  });

  it("no responder → unavailable at once; no answer in time → deadline_exceeded", async () => {
    const missing = endpoint({ ...catalog.greet, subject: `${prefix}.v1.nobody` });
    const unavailable = await request(nc, missing, { name: "x" }, { timeoutMs: 10_000 }).catch((e) => e);
    expect(unavailable.code).toBe("unavailable");
    expect(unavailable.retryable).toBe(true);
    const late = await request(nc, catalog.slow, { ms: 500 }, { timeoutMs: 100 }).catch((e) => e);
    expect(late.code).toBe("deadline_exceeded");
  });

  it("stop() finishes in-flight requests before resolving", async () => {
    const own = await connect({
      servers: inject("stack").natsUrl,
      user: inject("stack").natsUser,
      pass: inject("stack").natsPassword,
    });
    const log = pino({ level: "silent" });
    const subject = `${prefix}.v1.drain`;
    const slowOnly = { slow: { ...catalog.slow, subject } };
    const srv = serve(
      own,
      slowOnly,
      {
        slow: async ({ ms }) => {
          await new Promise((r) => setTimeout(r, ms));
          return { waited: ms };
        },
      },
      { queue: "drain", log },
    );
    await own.flush();
    const pending = request(nc, slowOnly.slow, { ms: 300 }, { timeoutMs: 5_000 });
    await new Promise((r) => setTimeout(r, 50));
    expect(srv.inFlight).toBe(1);
    await srv.stop();
    expect(srv.inFlight).toBe(0);
    await expect(pending).resolves.toEqual({ waited: 300 });
    // Once stopped, the subject has no responder any more.
    const after = await request(nc, slowOnly.slow, { ms: 1 }).catch((e) => e);
    expect(after.code).toBe("unavailable");
    await own.close();
  });

  it("propagates a request id header set by the caller and generates one otherwise", async () => {
    const h = headers();
    h.set(Headers.requestId, "from-header");
    await nc.request(catalog.greet.subject, encodeJson({ name: "h" }), { headers: h, timeout: 2_000 });
    expect(seen.at(-1)?.requestId).toBe("from-header");
    await nc.request(catalog.greet.subject, encodeJson({ name: "h" }), { timeout: 2_000 });
    expect(seen.at(-1)?.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });
});
