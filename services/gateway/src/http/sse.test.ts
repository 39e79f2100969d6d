import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { connect } from "node:net";
import { Writable } from "node:stream";
import { buildOpenApiDocument, route } from "@trellis/contracts";
import express from "express";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { accessLog } from "./access-log.ts";
import { bearerFromRequest, formatEvent, lastEventIdOf, openSse, type SseCloseReason, type SseStream } from "./sse.ts";

interface Parsed {
  id?: string;
  event?: string;
  data?: string;
  retry?: string;
  comments: string[];
}

/** Parses SSE text into blocks (as an EventSource would, keeping comments and `retry` visible). */
function parse(text: string): Parsed[] {
  const blocks: Parsed[] = [];
  for (const block of text.split("\n\n")) {
    if (block === "") continue;
    const p: Parsed = { comments: [] };
    const data: string[] = [];
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) p.comments.push(line.slice(1).trim());
      else {
        const i = line.indexOf(":");
        const field = line.slice(0, i);
        const value = line.slice(i + 1).replace(/^ /, "");
        if (field === "data") data.push(value);
        else if (field === "id") p.id = value;
        else if (field === "event") p.event = value;
        else if (field === "retry") p.retry = value;
      }
    }
    if (data.length > 0) p.data = data.join("\n");
    blocks.push(p);
  }
  return blocks;
}

let server: Server | undefined;
afterEach(async () => {
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  server?.closeAllConnections();
  server = undefined;
});

/** A real HTTP server whose every request opens a stream and hands it to `onStream`. */
async function serve(
  onStream: (stream: SseStream, req: IncomingMessage, res: ServerResponse) => void,
  options: Parameters<typeof openSse>[2] = {},
): Promise<string> {
  server = createServer((req, res) => onStream(openSse(req, res, options), req, res));
  server.listen(0, "127.0.0.1");
  await new Promise((r) => server?.once("listening", r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Reads a response body until `until` holds for the text so far, then aborts. */
async function readUntil(res: Response, until: (text: string) => boolean, controller: AbortController) {
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let text = "";
  while (!until(text)) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  controller.abort();
  return text;
}

describe("formatEvent", () => {
  it("splits multi-line data into several data lines and keeps id/event on one line", () => {
    expect(formatEvent({ id: 7, event: "pro\ngress", data: "a\nb\r\nc\rd" })).toBe(
      "id: 7\nevent: progress\ndata: a\ndata: b\ndata: c\ndata: d\n\n",
    );
    expect(formatEvent({ data: { x: 1 } })).toBe('data: {"x":1}\n\n');
  });
});

describe("openSse over a real HTTP server", () => {
  it("sends the SSE headers, retry, heartbeats and multi-line events", async () => {
    const base = await serve(
      (stream) => {
        void stream.send({ id: "1", event: "progress", data: "line one\nline two" });
        void stream.send({ id: "2", data: { percent: 50 } });
      },
      { heartbeatMs: 40, retryMs: 1500 },
    );
    const controller = new AbortController();
    const res = await fetch(base, { signal: controller.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    expect(res.headers.get("cache-control")).toContain("no-cache");
    expect(res.headers.get("x-accel-buffering")).toBe("no");
    expect(res.headers.get("connection")).toBe("keep-alive");
    const text = await readUntil(res, (t) => (t.match(/: ping\n\n/g) ?? []).length >= 2, controller);
    const blocks = parse(text);
    expect(blocks[0]?.retry).toBe("1500");
    expect(blocks[1]).toMatchObject({ id: "1", event: "progress", data: "line one\nline two" });
    expect(blocks[2]).toMatchObject({ id: "2", data: '{"percent":50}' });
    expect(blocks.filter((b) => b.comments.includes("ping")).length).toBeGreaterThanOrEqual(2);
  });

  it("passes Last-Event-ID from the header, or from ?lastEventId= on a first connection", async () => {
    const base = await serve((stream) => {
      void stream.send({ event: "resume", data: stream.lastEventId ?? "(none)" });
      stream.close();
    });
    const get = async (path: string, headers: Record<string, string> = {}) =>
      parse(await (await fetch(`${base}${path}`, { headers })).text())[0]?.data;
    expect(await get("/", { "Last-Event-ID": "42" })).toBe("42");
    expect(await get("/?lastEventId=17")).toBe("17");
    expect(await get("/?lastEventId=17", { "Last-Event-ID": "43" })).toBe("43");
    expect(await get("/")).toBe("(none)");
    expect(await get("/", { "Last-Event-ID": "x".repeat(300) })).toBe("(none)");
  });

  it("a client that reconnects with the last id it saw gets the rest: no gaps, no duplicates", async () => {
    const source = Array.from({ length: 30 }, (_, i) => ({ id: String(i + 1), data: `event ${i + 1}` }));
    const seenByServer: (string | undefined)[] = [];
    const base = await serve(async (stream) => {
      seenByServer.push(stream.lastEventId);
      const after = Number(stream.lastEventId ?? 0);
      for (const e of source.filter((x) => Number(x.id) > after)) {
        await stream.send(e);
        await new Promise((r) => setTimeout(r, 2));
      }
    });
    const received: string[] = [];
    let lastId: string | undefined;
    // Three connections, each cut after ten events, as a flaky network would.
    for (let round = 0; round < 3; round++) {
      const controller = new AbortController();
      const res = await fetch(base, {
        signal: controller.signal,
        headers: lastId ? { "Last-Event-ID": lastId } : {},
      });
      const text = await readUntil(res, (t) => parse(t).filter((b) => b.id).length >= 10, controller);
      for (const b of parse(text)
        .filter((x) => x.id)
        .slice(0, 10)) {
        received.push(b.data ?? "");
        lastId = b.id;
      }
    }
    expect(seenByServer).toEqual([undefined, "10", "20"]);
    expect(received).toEqual(source.map((e) => e.data));
  });

  it("drops a client that does not read, without buffering more than the bound", async () => {
    const max = 256 * 1024;
    let maxBuffered = 0;
    let reason: SseCloseReason | undefined;
    const chunk = "x".repeat(16 * 1024);
    const closed = new Promise<void>((resolve) => {
      void serve(
        async (stream, _req, res) => {
          stream.onClose((r) => {
            reason = r;
            resolve();
          });
          for (let i = 0; i < 10_000 && !stream.closed; i++) {
            await stream.send({ id: i, data: chunk });
            maxBuffered = Math.max(maxBuffered, res.writableLength);
            if (i % 16 === 0) await new Promise((r) => setImmediate(r));
          }
        },
        { maxBufferedBytes: max, dropGraceMs: 200 },
      ).then((base) => {
        // A raw socket that sends the request and then never reads.
        const url = new URL(base);
        const socket = connect(Number(url.port), url.hostname, () => {
          socket.write(`GET / HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`);
          socket.pause();
        });
        socket.on("error", () => {});
      });
    });
    await closed;
    expect(reason).toBe("dropped");
    expect(maxBuffered).toBeLessThanOrEqual(max);
    expect(maxBuffered).toBeGreaterThan(max / 2);
  });

  it("an event larger than the bound still goes out when nothing is queued", async () => {
    const big = "z".repeat(4 * 1024);
    const base = await serve(
      async (stream) => {
        expect(await stream.send({ id: "big", data: big })).toBe(true);
        stream.close();
      },
      { maxBufferedBytes: 1024 },
    );
    expect(parse(await (await fetch(base)).text())).toEqual([{ id: "big", data: big, comments: [] }]);
  });

  it("with `skip`, leaves events out while the client is behind and then says how many", async () => {
    let sent = 0;
    let skipped = 0;
    const base = await serve(
      async (stream) => {
        for (let i = 0; i < 400; i++) {
          if (await stream.send({ id: i, data: "y".repeat(8 * 1024) })) sent++;
          else skipped++;
        }
        await new Promise((r) => setTimeout(r, 100));
        await stream.send({ id: "end", event: "end", data: "" });
      },
      { maxBufferedBytes: 64 * 1024, slowClient: "skip" },
    );
    const controller = new AbortController();
    const res = await fetch(base, { signal: controller.signal });
    // Reading only after the producer has run past the bound.
    await new Promise((r) => setTimeout(r, 50));
    const text = await readUntil(res, (t) => t.includes("event: end"), controller);
    const blocks = parse(text);
    expect(skipped).toBeGreaterThan(0);
    const markers = blocks.filter((b) => b.event === "skipped");
    const reported = markers.reduce((n, m) => n + (JSON.parse(m.data ?? "{}") as { skipped: number }).skipped, 0);
    expect(reported).toBe(skipped);
    expect(blocks.filter((b) => b.data?.startsWith("y")).length).toBe(sent);
  });

  it("with `wait`, paces the producer to the client and delivers every event", async () => {
    const base = await serve(
      async (stream) => {
        for (let i = 0; i < 300; i++) await stream.send({ id: i, data: "w".repeat(8 * 1024) });
        stream.close({ event: "end", data: "" });
      },
      { maxBufferedBytes: 64 * 1024, slowClient: "wait" },
    );
    const blocks = parse(await (await fetch(base)).text());
    expect(blocks.filter((b) => b.data?.startsWith("w")).map((b) => b.id)).toEqual(
      Array.from({ length: 300 }, (_, i) => String(i)),
    );
    expect(blocks.at(-1)?.event).toBe("end");
  });

  it("on client disconnect, calls onClose and clears its heartbeat timer", async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    const counts: number[] = [];
    let reason: SseCloseReason | undefined;
    const closed = new Promise<void>((resolve) => {
      server = createServer((req, res) => {
        counts.push(timers());
        openSse(req, res, {
          heartbeatMs: 20,
          onClose: (r) => {
            reason = r;
            counts.push(timers());
            resolve();
          },
        });
        counts.push(timers());
      }).listen(0, "127.0.0.1");
    });
    const listening = server as unknown as Server;
    await new Promise((r) => listening.once("listening", r));
    const controller = new AbortController();
    const res = await fetch(`http://127.0.0.1:${(listening.address() as AddressInfo).port}`, {
      signal: controller.signal,
    });
    await readUntil(res, (t) => t.includes(": ping"), controller);
    await closed;
    expect(reason).toBe("client_closed");
    const [before, opened, after] = counts as [number, number, number];
    expect(opened).toBe(before + 1);
    expect(after).toBe(opened - 1);
  });
});

describe("EventSource authentication", () => {
  it("takes the bearer token from Authorization, else from ?access_token=", () => {
    const req = (url: string, authorization?: string) =>
      ({ url, headers: authorization ? { authorization } : {} }) as IncomingMessage;
    expect(bearerFromRequest(req("/e", "Bearer abc"))).toBe("Bearer abc");
    expect(bearerFromRequest(req("/e?access_token=t0k", "Bearer abc"))).toBe("Bearer abc");
    expect(bearerFromRequest(req("/e?access_token=t0k"))).toBe("Bearer t0k");
    expect(bearerFromRequest(req("/e?access_token="))).toBeUndefined();
    expect(lastEventIdOf(req("/e?lastEventId=%2012%20"))).toBe("12");
  });

  it("the access log never writes the access_token query parameter", async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const app = express();
    app.use((req, _res, next) => {
      Object.assign(req, { id: "r1" });
      next();
    });
    app.use(accessLog(pino(sink)));
    app.get("/events", (_req, res) => void res.status(204).end());
    server = app.listen(0, "127.0.0.1");
    await new Promise((r) => server?.once("listening", r));
    const port = (server.address() as AddressInfo).port;
    await fetch(`http://127.0.0.1:${port}/events?access_token=s3cr3t-token&lastEventId=4`);
    await new Promise((r) => setTimeout(r, 20));
    const log = lines.join("");
    expect(log).toContain('"path":"/events"');
    expect(log).not.toContain("s3cr3t-token");
  });
});

describe("event-stream routes in the OpenAPI document", () => {
  it("document ?access_token=, ?lastEventId= and Last-Event-ID", () => {
    const events = route({
      method: "get",
      path: "/things/:id/events",
      operationId: "thingEvents",
      summary: "Events.",
      tags: ["test"],
      auth: "bearer",
      eventStream: true,
      params: z.object({ id: z.string() }),
      responses: { 200: { description: "The stream.", contentType: "text/event-stream" } },
    });
    const doc = buildOpenApiDocument([events], { title: "t", version: "1" }) as {
      paths: Record<string, { get: { parameters: { name: string; in: string }[] } }>;
    };
    const params = doc.paths["/things/{id}/events"]?.get.parameters.map((p) => `${p.in}:${p.name}`);
    expect(params).toEqual(["path:id", "query:access_token", "query:lastEventId", "header:last-event-id"]);
  });
});
