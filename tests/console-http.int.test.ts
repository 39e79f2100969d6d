/**
 * The console's HTTP side in the gateway (issue 20), without a browser: static files with their
 * CSP and caching, and the cookie session (login, refresh with rotation, logout, CSRF header).
 * The browser flows are in tests/browser/ (`npm run test:browser`).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { useFileStack } from "@trellis/stack/vitest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN, type Platform, startPlatform } from "./support/platform.ts";

const stack = useFileStack();
let platform: Platform;
const dist = mkdtempSync(join(tmpdir(), "trellis-console-dist-"));
const CSRF = { "X-Trellis-Console": "1" };

beforeAll(async () => {
  mkdirSync(join(dist, "assets"));
  writeFileSync(
    join(dist, "index.html"),
    '<!doctype html><script type="module" src="/console/assets/app-abc123.js"></script>',
  );
  writeFileSync(join(dist, "assets", "app-abc123.js"), "console.log(1)");
  writeFileSync(join(dist, "sw.js"), "// worker");
  platform = await startPlatform({ stack, services: ["auth"], extraEnv: { CONSOLE_DIR: dist } });
});

afterAll(async () => {
  await platform?.stop();
  rmSync(dist, { recursive: true, force: true });
});

const cookieOf = (res: Response) => res.headers.get("set-cookie") ?? "";
const refreshValue = (setCookie: string) => /trellis_console_refresh=([^;]*)/.exec(setCookie)?.[1] ?? "";

async function consoleLogin(): Promise<Response> {
  return fetch(`${platform.base}/console/session`, {
    method: "POST",
    headers: { ...CSRF, "content-type": "application/json" },
    body: JSON.stringify({ grant_type: "password", ...ADMIN }),
  });
}

describe("console static files", () => {
  it("serves index.html revalidated, hashed assets immutable, its own CSP, the app's routes, 404 for missing assets", async () => {
    const page = await fetch(`${platform.base}/console/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("cache-control")).toBe("no-cache");
    const csp = page.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain("unsafe-inline");
    const asset = await fetch(`${platform.base}/console/assets/app-abc123.js`);
    expect(asset.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(await asset.text()).toBe("console.log(1)");
    expect((await fetch(`${platform.base}/console/sw.js`)).headers.get("cache-control")).toBe("no-cache");
    const deep = await fetch(`${platform.base}/console/monitors/abc`);
    expect(deep.status).toBe(200);
    expect(await deep.text()).toContain("app-abc123.js");
    expect((await fetch(`${platform.base}/console/assets/app-old.js`)).status).toBe(404);
    const bare = await fetch(`${platform.base}/console`, { redirect: "manual" });
    expect(bare.status).toBe(301);
    expect(bare.headers.get("location")).toBe("/console/");
  });

  it("lists the session routes in the OpenAPI document", async () => {
    const doc = (await (await fetch(`${platform.base}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(["/console/session", "/console/refresh", "/console/logout"]),
    );
  });
});

describe("console session", () => {
  it("refuses requests without the CSRF header (400, no cookie)", async () => {
    for (const path of ["/console/session", "/console/refresh", "/console/logout"]) {
      const res = await fetch(`${platform.base}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ grant_type: "password", ...ADMIN }),
      });
      expect(res.status, path).toBe(400);
      expect(cookieOf(res), path).toBe("");
    }
  });

  it("logs in into an HttpOnly SameSite=Strict cookie scoped to /console/, answering the access token only", async () => {
    const res = await consoleLogin();
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(["access_token", "expires_in", "token_type"]);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const cookie = cookieOf(res);
    expect(cookie).toMatch(
      /^trellis_console_refresh=[\w-]+\.[\w-]+; Path=\/console\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/,
    );
    const me = await fetch(`${platform.base}/api/v2/me`, { headers: { authorization: `Bearer ${body.access_token}` } });
    expect(((await me.json()) as { username: string }).username).toBe(ADMIN.username);
  });

  it("answers a wrong password like the token endpoint (401), setting no cookie", async () => {
    const res = await fetch(`${platform.base}/console/session`, {
      method: "POST",
      headers: { ...CSRF, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "password", username: ADMIN.username, password: "not-the-password-1" }),
    });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("unauthenticated");
    expect(cookieOf(res)).toBe("");
  });

  it("refreshes from the cookie and rotates it; the spent cookie is refused and clears itself", async () => {
    const first = refreshValue(cookieOf(await consoleLogin()));
    const refreshed = await fetch(`${platform.base}/console/refresh`, {
      method: "POST",
      headers: { ...CSRF, cookie: `other=1; trellis_console_refresh=${first}` },
    });
    expect(refreshed.status).toBe(200);
    expect(((await refreshed.json()) as { access_token: string }).access_token).toMatch(/^eyJ/);
    const second = refreshValue(cookieOf(refreshed));
    expect(second).not.toBe(first);
    const reused = await fetch(`${platform.base}/console/refresh`, {
      method: "POST",
      headers: { ...CSRF, cookie: `trellis_console_refresh=${first}` },
    });
    expect(reused.status).toBe(401);
    expect(cookieOf(reused)).toMatch(/trellis_console_refresh=; .*Max-Age=0/);
    const none = await fetch(`${platform.base}/console/refresh`, { method: "POST", headers: CSRF });
    expect(none.status).toBe(401);
  });

  it("logs out: the session ends (its access token and cookie stop working) and the cookie is cleared", async () => {
    const login = await consoleLogin();
    const { access_token } = (await login.json()) as { access_token: string };
    const cookie = refreshValue(cookieOf(login));
    const out = await fetch(`${platform.base}/console/logout`, {
      method: "POST",
      headers: { ...CSRF, cookie: `trellis_console_refresh=${cookie}` },
    });
    expect(out.status).toBe(204);
    expect(cookieOf(out)).toMatch(/Max-Age=0/);
    await expect
      .poll(
        async () =>
          (await fetch(`${platform.base}/api/v2/me`, { headers: { authorization: `Bearer ${access_token}` } })).status,
      )
      .toBe(401);
    // Logging out with no cookie, or a made-up one, is still a 204 and ends nothing.
    const made = await fetch(`${platform.base}/console/logout`, {
      method: "POST",
      headers: { ...CSRF, cookie: "trellis_console_refresh=AAAAAAAAAAAAAAAAAAAAAA.bogus" },
    });
    expect(made.status).toBe(204);
  });
});
