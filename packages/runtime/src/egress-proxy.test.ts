import { createServer, type IncomingMessage, request, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { startDnsServer, type TestDnsServer } from "@trellis/stack/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EgressPolicy } from "./egress.ts";
import { type EgressProxy, startEgressProxy } from "./egress-proxy.ts";

/** Two local servers: the allowed origin and another one nobody may reach; requests counted. */
let origin: Server;
let other: Server;
let originPort: number;
let otherPort: number;
const hits = { origin: 0, other: 0 };
let dns: TestDnsServer;
let proxy: EgressProxy;

const listen = async (s: Server) => {
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return (s.address() as AddressInfo).port;
};

beforeAll(async () => {
  origin = createServer((req, res) => {
    hits.origin++;
    res.writeHead(200, { "content-type": "text/plain", "x-host": req.headers.host ?? "" }).end(`origin ${req.url}`);
  });
  other = createServer((_req, res) => {
    hits.other++;
    res.end("other");
  });
  originPort = await listen(origin);
  otherPort = await listen(other);
  dns = await startDnsServer({ "origin.test": ["127.0.0.1"], "private.test": ["10.1.2.3"] });
  const policy = new EgressPolicy({ allowHosts: [`127.0.0.1:${originPort}`], dnsServers: [dns.server] });
  proxy = await startEgressProxy(policy);
});

afterAll(async () => {
  await proxy?.close();
  await dns?.close();
  for (const s of [origin, other]) await new Promise((r) => s?.close(r));
});

/** An absolute-form request through the proxy: status, body. */
function viaProxy(url: string): Promise<{ status: number; body: string; res: IncomingMessage }> {
  const p = new URL(proxy.url);
  return new Promise((resolve, reject) => {
    request({ host: p.hostname, port: p.port, path: url, headers: { host: new URL(url).host } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => {
        body += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, res }));
    })
      .on("error", reject)
      .end();
  });
}

/** A CONNECT through the proxy: the status and, when 200, the tunnel's socket. */
function tunnel(target: string): Promise<{ status: number; body: string; socket: Socket }> {
  const p = new URL(proxy.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: p.hostname, port: p.port, method: "CONNECT", path: target });
    req.on("connect", (res, socket, head) => {
      if (res.statusCode === 200) return resolve({ status: 200, body: "", socket });
      let body = head.toString("utf8");
      socket.setEncoding("utf8");
      socket.on("data", (c) => {
        body += c;
      });
      socket.on("close", () => resolve({ status: res.statusCode ?? 0, body, socket }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("egress proxy", () => {
  it("forwards absolute-form http requests to an allowed target", async () => {
    const r = await viaProxy(`http://127.0.0.1:${originPort}/page?a=1`);
    expect(r).toMatchObject({ status: 200, body: "origin /page?a=1" });
    expect(r.res.headers["x-host"]).toBe(`127.0.0.1:${originPort}`);
    const named = await viaProxy(`http://origin.test:${originPort}/named`);
    expect(named).toMatchObject({ status: 200, body: "origin /named" });
  });

  it("answers 403 with the reason for refused targets, which receive nothing", async () => {
    const before = proxy.refusals.length;
    const loop = await viaProxy(`http://127.0.0.1:${otherPort}/secret`);
    expect(loop.status).toBe(403);
    expect(loop.body).toBe(
      "127.0.0.1 is a loopback address, which is not allowed (only public addresses may be reached)",
    );
    const mapped = await viaProxy(`http://[::ffff:127.0.0.1]:${originPort}/secret`);
    expect(mapped.status).toBe(403);
    expect(mapped.body).toMatch(/embedding the loopback address 127\.0\.0\.1/);
    const ten = await viaProxy("http://private.test/secret");
    expect(ten.status).toBe(403);
    expect(ten.body).toMatch(/^the name private\.test \(10\.1\.2\.3\) resolves to a private address/);
    expect(proxy.refusals.slice(before).map((e) => e.code)).toEqual(["forbidden", "forbidden", "forbidden"]);
    expect(hits.other).toBe(0);
  });

  it("tunnels CONNECT to an allowed target", async () => {
    const t = await tunnel(`127.0.0.1:${originPort}`);
    expect(t.status).toBe(200);
    const reply = await new Promise<string>((resolve) => {
      let data = "";
      t.socket.setEncoding("utf8");
      t.socket.on("data", (c) => {
        data += c;
      });
      t.socket.on("close", () => resolve(data));
      t.socket.write(`GET /tunnelled HTTP/1.1\r\nhost: 127.0.0.1:${originPort}\r\nconnection: close\r\n\r\n`);
    });
    expect(reply).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(reply).toContain("origin /tunnelled");
  });

  it("refuses CONNECT to private targets with 403 and the reason", async () => {
    const before = hits.origin;
    for (const [target, reason] of [
      [`127.0.0.1:${otherPort}`, /^127\.0\.0\.1 is a loopback address/],
      [`[::ffff:127.0.0.1]:${originPort}`, /embedding the loopback address/],
      ["private.test:443", /private\.test \(10\.1\.2\.3\)/],
      ["169.254.169.254:80", /link-local/],
    ] as const) {
      const t = await tunnel(target);
      expect(t.status, target).toBe(403);
      expect(t.body).toMatch(reason);
    }
    const bad = await tunnel("no-port-here");
    expect(bad.status).toBe(400);
    expect(hits.other).toBe(0);
    expect(hits.origin).toBe(before);
  });

  it("refuses requests that are not absolute http (400)", async () => {
    const p = new URL(proxy.url);
    const status = await new Promise<number>((resolve, reject) => {
      request({ host: p.hostname, port: p.port, path: "/relative" }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
        .on("error", reject)
        .end();
    });
    expect(status).toBe(400);
  });
});
