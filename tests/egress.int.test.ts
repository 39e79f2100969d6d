/**
 * The egress policy end to end, through the real gateway, auth, media, analysis and telemetry
 * processes, real yt-dlp behind the analysis service's egress proxy, and a real DNS server on
 * 127.0.0.1 (dns2) that the services resolve user-given names with (`EGRESS_DNS_SERVERS`).
 * Private egress is off (the default); only the origin server's `127.0.0.1:<port>` is allowed
 * (`EGRESS_ALLOW_HOSTS`), as a public origin would be. A second local server stands for the
 * platform's private network: nothing may ever reach it. Names resolving to 10.x are refused
 * before any connection, so no packet goes to 10.x.
 */

import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { poll, startDnsServer, type TestDnsServer } from "@trellis/stack/testing";
import { useFileStack } from "@trellis/stack/vitest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { factsVtt } from "./support/analysis.ts";
import { ADMIN, http, loginBoth, type Platform, registerUser, startPlatform, within } from "./support/platform.ts";
import { testVideo } from "./support/video.ts";

const stack = useFileStack();
let platform: Platform;
let base: string;
let dns: TestDnsServer;
let origin: Server;
let originPort: number;
/** The server standing for the private network (never to be reached). */
let inner: Server;
let innerPort: number;
let innerHits = 0;
let alice: { id: string; bearer: string };
let adminBearer: string;
let video: Buffer;
/** Requests the origin got, by path. */
const hits = new Map<string, number>();

const page = (videoSrc: string, trackSrc: string) =>
  `<!doctype html><html><head><title>Lesson</title></head><body>
<video controls src="${videoSrc}"><track kind="subtitles" srclang="en" label="English" src="${trackSrc}" default></video>
</body></html>`;

function serveOrigin(req: IncomingMessage, res: ServerResponse): void {
  const path = new URL(req.url ?? "/", "http://x").pathname;
  hits.set(path, (hits.get(path) ?? 0) + 1);
  const html = (body: string) => res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(body);
  const redirect = (to: string) => res.writeHead(302, { location: to }).end();
  switch (path) {
    case "/lesson.html":
      return void html(page("/clip.mp4", "/captions.vtt"));
    case "/captions.vtt":
      return void res.writeHead(200, { "content-type": "text/vtt" }).end(factsVtt(1));
    case "/clip.mp4":
      return void res
        .writeHead(200, { "content-type": "video/mp4", "content-length": String(video.length) })
        .end(req.method === "HEAD" ? undefined : video);
    case "/to-loopback":
      return void redirect(`http://127.0.0.1:${innerPort}/lesson.html`);
    case "/to-mapped":
      return void redirect(`http://[::ffff:127.0.0.1]:${originPort}/lesson.html`);
    case "/to-ten":
      return void redirect(`http://private.test:${originPort}/lesson.html`);
    case "/caption-loopback.html":
      return void html(page("/clip.mp4", `http://127.0.0.1:${innerPort}/captions.vtt`));
    case "/media-mapped.html":
      return void html(page(`http://[::ffff:127.0.0.1]:${originPort}/clip.mp4`, "/captions.vtt"));
    case "/hook":
      return void req.resume().on("end", () => res.writeHead(204).end());
    default:
      res.writeHead(404).end();
  }
}

const listen = async (s: Server) => {
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return (s.address() as AddressInfo).port;
};

const start = (url: string) =>
  http(base, "POST", "/api/v2/analyses", {
    bearer: alice.bearer,
    json: { title: "Egress", url, num_questions: 3, keyframe_interval: 2 },
  });
const finished = (id: string) =>
  poll(
    () => http(base, "GET", `/api/v2/analyses/${id}`, { bearer: alice.bearer }),
    (r) => r.status === 200 && ["completed", "failed", "cancelled"].includes(r.body.state),
    { timeoutMs: 90_000, intervalMs: 100 },
  ).then((r) => r.value.body);

beforeAll(async () => {
  video = testVideo({ seconds: 4, pattern: "testsrc2", audio: true });
  origin = createServer(serveOrigin);
  originPort = await listen(origin);
  inner = createServer((_req, res) => {
    innerHits++;
    res.end("internal");
  });
  innerPort = await listen(inner);
  dns = await startDnsServer({
    "origin.test": ["127.0.0.1"],
    "private.test": ["10.0.0.9"],
    "metadata.test": ["169.254.169.254"],
  });
  platform = await startPlatform({
    stack,
    services: ["auth", "media", "analysis", "telemetry"],
    extraEnv: {
      ALLOW_PRIVATE_EGRESS: "false",
      EGRESS_ALLOW_HOSTS: `127.0.0.1:${originPort}`,
      EGRESS_DNS_SERVERS: dns.server,
      JOB_ATTEMPTS: "3",
      JOB_BACKOFF_MS: "200",
      WEBHOOK_RETRY_MS: "200",
      WEBHOOK_MAX_RETRY_MS: "1000",
    },
  });
  base = platform.base;
  alice = await registerUser(base, platform.suffix, "alice");
  adminBearer = (await loginBoth(base, ADMIN.username, ADMIN.password)).bearer;
}, 120_000);

afterAll(async () => {
  await platform?.stop();
  await dns?.close();
  for (const s of [origin, inner]) await new Promise((r) => s?.close(r));
});

describe("URL analyses", () => {
  it("refuses a URL whose host is or resolves to a non-public address with 403 forbidden and the reason", async () => {
    const cases: [string, RegExp][] = [
      [`http://127.0.0.1:${innerPort}/lesson.html`, /127\.0\.0\.1 is a loopback address, which is not allowed/],
      [`http://[::ffff:127.0.0.1]:${originPort}/lesson.html`, /embedding the loopback address 127\.0\.0\.1/],
      [`http://private.test:${originPort}/lesson.html`, /private\.test \(10\.0\.0\.9\) resolves to a private address/],
      ["http://metadata.test/latest/meta-data/", /169\.254\.169\.254\) resolves to a link-local address/],
      ["http://169.254.169.254/latest/meta-data/", /169\.254\.169\.254 is a link-local address/],
      ["http://[fd00::1]/video.mp4", /unique-local/],
      [`http://0x7f.1:${innerPort}/lesson.html`, /127\.0\.0\.1 is a loopback address/],
    ];
    for (const [url, reason] of cases) {
      const res = await start(url);
      expect(res.status, url).toBe(403);
      expect(res.body.error.code).toBe("forbidden");
      expect(res.body.error.message).toMatch(/^the URL cannot be fetched: /);
      expect(res.body.error.message).toMatch(reason);
    }
    const list = await http(base, "GET", "/api/v2/analyses", { bearer: alice.bearer });
    expect(list.body.items).toEqual([]);
    expect(innerHits).toBe(0);
  });

  it("analyses an allowed origin by name through the egress proxy (the control: the path works)", async () => {
    const res = await start(`http://origin.test:${originPort}/lesson.html`);
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const done = await finished(res.body.id);
    expect(done.state, JSON.stringify(done.error)).toBe("completed");
    expect(hits.get("/captions.vtt")).toBeGreaterThanOrEqual(1);
    expect(hits.get("/clip.mp4")).toBeGreaterThanOrEqual(1);
  }, 120_000);

  it.each([
    ["/to-loopback", /127\.0\.0\.1 is a loopback address/],
    ["/to-mapped", /embedding the loopback address 127\.0\.0\.1/],
    ["/to-ten", /private\.test \(10\.0\.0\.9\) resolves to a private address/],
    ["/caption-loopback.html", /127\.0\.0\.1 is a loopback address/],
    ["/media-mapped.html", /embedding the loopback address 127\.0\.0\.1/],
  ])(
    "a redirect, caption or media link of %s to a private address fails the job with forbidden, not retried",
    async (path, reason) => {
      const res = await start(`http://127.0.0.1:${originPort}${path}`);
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      const done = await finished(res.body.id);
      expect(done.state).toBe("failed");
      expect(done.error.code).toBe("forbidden");
      expect(done.error.message).toMatch(/^the URL led to an address that is not allowed: /);
      expect(done.error.message).toMatch(reason);
      // Final: one attempt (JOB_ATTEMPTS is 3). The first hop was fetched (yt-dlp reads the page
      // again itself when the captions of a loaded info file fail).
      expect(done.attempts).toBe(1);
      expect(hits.get(path)).toBeGreaterThanOrEqual(1);
      expect(innerHits).toBe(0);
    },
    120_000,
  );
});

describe("webhooks", () => {
  const put = (url: string) =>
    http(base, "PUT", `/api/v2/users/${alice.id}/webhook`, { bearer: alice.bearer, json: { url } });

  it("refuses a webhook URL whose host is or resolves to a non-public address with 403 forbidden", async () => {
    for (const [url, reason] of [
      [`http://127.0.0.1:${innerPort}/hook`, /127\.0\.0\.1 is a loopback address/],
      [`http://[::ffff:127.0.0.1]:${originPort}/hook`, /embedding the loopback address 127\.0\.0\.1/],
      [`http://private.test:${originPort}/hook`, /private\.test \(10\.0\.0\.9\)/],
      ["http://metadata.test/hook", /link-local/],
      ["http://[::1]/hook", /::1 is a loopback address/],
      [`http://localhost:${innerPort}/hook`, /localhost \(127\.0\.0\.1\) resolves to a loopback address/],
    ] as const) {
      const res = await put(url);
      expect(res.status, url).toBe(403);
      expect(res.body.error.code).toBe("forbidden");
      expect(res.body.error.message).toMatch(reason);
    }
    expect((await http(base, "GET", `/api/v2/users/${alice.id}/webhook`, { bearer: alice.bearer })).status).toBe(404);
    expect(innerHits).toBe(0);
  });

  it("delivers to the checked address, and refuses a name rebound to 10.x after the webhook was set", async () => {
    dns.set("hook.test", ["127.0.0.1"]);
    expect((await put(`http://hook.test:${originPort}/hook`)).status).toBe(200);
    const monitorId = randomBytes(16).toString("hex");
    const made = await http(base, "POST", "/api/v2/monitors", {
      bearer: adminBearer,
      json: { id: monitorId, owner_id: alice.id, password: `Mon-${randomBytes(6).toString("hex")}` },
    });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    const rule = await http(base, "POST", `/api/v2/monitors/${monitorId}/alarm-rules`, {
      bearer: alice.bearer,
      json: { measurement: "air_flow", condition: "below", threshold: 1 },
    });
    expect(rule.status, JSON.stringify(rule.body)).toBe(201);
    const reading = (air_flow: number) =>
      http(base, "POST", `/api/v2/monitors/${monitorId}/readings`, {
        bearer: adminBearer,
        json: { air_flow, timestamp: Date.now() },
      });

    // Raised: delivered to hook.test at 127.0.0.1 (an allowed address and port).
    expect((await reading(0.2)).status).toBe(200);
    await within(
      15_000,
      async () => hits.get("/hook") ?? 0,
      (n) => n === 1,
    );

    // The name now answers 10.0.0.9: the clearing event is refused before connecting, not retried.
    dns.set("hook.test", ["10.0.0.9"]);
    const telemetry = platform.procs.find((p) => p.name === "telemetry");
    expect((await reading(5)).status).toBe(200);
    const refused = await telemetry?.waitForLog((l) => l.msg === "webhook refused by the egress policy", 15_000);
    expect(String(refused?.reason)).toMatch(/hook\.test \(10\.0\.0\.9\) resolves to a private address/);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(hits.get("/hook")).toBe(1);
    expect(telemetry?.logs.filter((l) => l.msg === "webhook refused by the egress policy")).toHaveLength(1);
    expect(innerHits).toBe(0);
  }, 60_000);
});
