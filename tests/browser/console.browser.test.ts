/**
 * The web console (issue 20) in Debian's chromium against the real platform, operators' side:
 * login (and TOTP), the refresh cookie, monitors fed by the real device simulator, the live chart,
 * history and CSV, an alarm raised by a reading and acknowledged, commands, provisioning, admin,
 * phone width, logout. Teachers and learners: learning.browser.test.ts. axe-core on every page; a
 * screenshot of each in artifacts/console-screenshots/.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { useFileStack } from "@trellis/stack/vitest";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launch, login as loginAt, newPage, startSlowly, visit } from "../support/browser.ts";
import { ADMIN, http, type Platform, registerUser } from "../support/platform.ts";

const root = join(import.meta.dirname, "..", "..");
const stack = useFileStack();
let platform: Platform;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let problems: string[];
let adminBearer: string;
let simulator: ChildProcess | undefined;
let monitorId: string;
const tmp = mkdtempSync(join(tmpdir(), "trellis-console-"));

const url = (path: string) => `${platform.base}/console${path}`;
const login = (p: Page, username: string, password: string) => loginAt(p, platform.base, username, password);

beforeAll(async () => {
  platform = await startSlowly(stack, ["auth", "telemetry"], {
    PRESENCE_SWEEP_INTERVAL_MS: "1000",
  });
  const token = await http(platform.base, "POST", "/api/v2/auth/token", {
    form: { grant_type: "password", ...ADMIN },
  });
  expect(token.status).toBe(200);
  adminBearer = token.body.access_token;
  const me = await http(platform.base, "GET", "/api/v2/me", { bearer: adminBearer });
  // The real device simulator: one monitor of the admin, 20 readings/s, on the file's NATS server.
  const credentials = join(tmp, "monitors.json");
  simulator = spawn(
    process.execPath,
    [
      join(root, "scripts", "simulate-devices.ts"),
      ...["--gateway", platform.base, "--nats", stack.natsUrl, "--admin", `${ADMIN.username}:${ADMIN.password}`],
      ...["--monitors", "1", "--rate", "20", "--duration", "300", "--owner", me.body.userId],
      ...["--save-credentials", credentials],
    ],
    { cwd: root, stdio: ["ignore", "ignore", "inherit"] },
  );
  const deadline = Date.now() + 30_000;
  while (!monitorId && Date.now() < deadline) {
    try {
      monitorId = JSON.parse(readFileSync(credentials, "utf8"))[0].id;
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  expect(monitorId, "the simulator created its monitor").toBeTruthy();
  browser = await launch();
  context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  ({ page, problems } = await newPage(context));
});

afterAll(async () => {
  simulator?.kill("SIGINT");
  await browser?.close();
  await platform?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe("the console in chromium", () => {
  it("serves the page with its CSP and caching, and builds small (operator first load ≤ 150 KB gzipped)", async () => {
    const res = await fetch(url("/"));
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-cache");
    expect(res.headers.get("content-security-policy")).toContain("script-src 'self'");
    const html = await res.text();
    const assets = [...html.matchAll(/\/console\/assets\/[^"]+\.(?:js|css)/g)].map((m) => m[0]);
    expect(assets.length).toBeGreaterThanOrEqual(2);
    let gzipped = 0;
    for (const asset of assets) {
      const a = await fetch(`${platform.base}${asset}`);
      expect(a.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
      gzipped += gzipSync(Buffer.from(await a.arrayBuffer()), { level: 9 }).length;
    }
    gzipped += gzipSync(html, { level: 9 }).length;
    process.stderr.write(
      `console: operator first load ${(gzipped / 1024).toFixed(1)} KB gzipped (${assets.join(", ")})\n`,
    );
    expect(gzipped).toBeLessThanOrEqual(150 * 1024);
    expect((await fetch(url("/assets/missing.js"))).status).toBe(404);
  });

  it("logs in with the password flow, shows the API's error first, keeps no token in storage", async () => {
    await page.goto(url("/"));
    await page.getByLabel("Username").waitFor();
    await visit(page, "01-login");
    await page.getByLabel("Username").fill(ADMIN.username);
    await page.getByLabel("Password").fill("wrong-password-123");
    await page.getByRole("button", { name: "Log in" }).click();
    await expect.poll(() => page.getByRole("alert").textContent()).toMatch(/401 unauthenticated/);
    await visit(page, "02-login-error");
    await page.getByLabel("Password").fill(ADMIN.password);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByRole("heading", { name: "Monitors" }).waitFor();
    const storage = (await page.evaluate(
      "({cookie: document.cookie, local: JSON.stringify(localStorage), session: JSON.stringify(sessionStorage)})",
    )) as { cookie: string; local: string; session: string };
    expect(storage.cookie).toBe(""); // HttpOnly: invisible to scripts
    expect(storage.local).not.toMatch(/eyJ/);
    expect(storage.session).not.toMatch(/eyJ/);
    const cookies = await context.cookies(`${platform.base}/console/`);
    const refresh = cookies.find((c) => c.name === "trellis_console_refresh");
    expect(refresh).toMatchObject({ httpOnly: true, sameSite: "Strict", path: "/console/" });
  });

  it("lists the simulator's monitor online with its last reading, and survives a reload through the cookie", async () => {
    await expect
      .poll(
        async () => {
          await page.reload();
          await page.getByRole("heading", { name: "Monitors" }).waitFor();
          return page.locator("tr", { hasText: monitorId }).textContent();
        },
        { timeout: 30_000, interval: 1000 },
      )
      .toMatch(/online.*ph \d/);
    await visit(page, "03-monitors");
  });

  it("charts live readings from the simulator, shows history, downloads CSV", async () => {
    await page.getByRole("link", { name: monitorId }).click();
    await page.getByRole("heading", { name: `Monitor ${monitorId}` }).waitFor();
    await expect
      .poll(() => page.evaluate<number>("window.__liveChart?.points ?? 0"), { timeout: 20_000 })
      .toBeGreaterThan(20);
    const frames = await page.evaluate<number>("window.__liveChart?.frames ?? 0");
    expect(frames).toBeGreaterThan(0);
    await expect.poll(() => page.getByTestId("history-chart").locator("canvas").count()).toBeGreaterThan(0);
    await visit(page, "04-monitor-live");
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: "Download CSV" }).click(),
    ]);
    const file = join(tmp, "readings.csv");
    await download.saveAs(file);
    const csv = readFileSync(file, "utf8").split("\n");
    expect(csv[0]).toMatch(/^timestamp,iso_time,/);
    expect(csv.length).toBeGreaterThan(10);
  });

  it("creates, edits and deletes alarm rules, and sends a command the simulator answers", async () => {
    const form = page.getByRole("form", { name: "New rule" });
    await form.getByLabel("Measurement").selectOption("ph");
    await form.getByLabel("Threshold").fill("99");
    await form.getByRole("button", { name: "Add rule" }).click();
    const rules = page.getByRole("list", { name: "Alarm rules" });
    await rules.getByText("ph above 99").waitFor();
    await rules.getByRole("button", { name: "Edit" }).click();
    const edit = page.getByRole("form", { name: "Edit rule" });
    await edit.getByLabel("Threshold").fill("98");
    await edit.getByRole("button", { name: "Save rule" }).click();
    await rules.getByText("ph above 98").waitFor();
    expect(await rules.getByText("ph above 99").count()).toBe(0);
    await rules.getByRole("button", { name: "Delete rule ph above 98" }).click();
    await page.getByText("No rules.").waitFor();
    // The rule the alarm test needs: the simulator's next readings are back below, so a hysteresis
    // past zero keeps the alarm open.
    const again = page.getByRole("form", { name: "New rule" });
    await again.getByLabel("Measurement").selectOption("air_flow");
    await again.getByLabel("Threshold").fill("1000000");
    await again.getByLabel("Hysteresis").fill("2000000");
    await again.getByRole("button", { name: "Add rule" }).click();
    await rules.getByText("air_flow above 1000000, hysteresis 2000000").waitFor();

    await page.getByLabel("Command", { exact: true }).fill("calibrate_ph");
    await page.getByLabel("Parameters (JSON)").fill('{"reference": 7}');
    await page.getByRole("button", { name: "Send" }).click();
    const command = page.getByRole("list", { name: "Recent commands" }).getByRole("listitem").first();
    await command.getByText("succeeded").waitFor({ timeout: 20_000 });
    await visit(page, "05-monitor-rules-commands");
  });

  it("shows an alarm raised by a reading and acknowledges it", async () => {
    const rules = await http(platform.base, "GET", `/api/v2/monitors/${monitorId}/alarm-rules`, {
      bearer: adminBearer,
    });
    expect(rules.body.items).toHaveLength(1);
    const rule = { body: rules.body.items[0] };
    await page.getByRole("link", { name: "Alarms", exact: true }).click();
    await page.getByRole("heading", { name: "Alarms" }).waitFor();
    const reading = await http(platform.base, "POST", `/api/v2/monitors/${monitorId}/readings`, {
      bearer: adminBearer,
      json: { air_flow: 2_000_000 },
    });
    expect(reading.status, JSON.stringify(reading.body)).toBe(200);
    // Live: the page hears the alarm event and shows it without a reload.
    const card = page.locator(`[data-alarm^="${rule.body.id}"]`);
    await card.getByText("active").waitFor({ timeout: 20_000 });
    await visit(page, "06-alarms");
    await card.getByRole("button", { name: /Acknowledge/ }).click();
    await card.getByText("acknowledged").waitFor();
    const listed = await http(platform.base, "GET", `/api/v2/alarms?monitor_id=${monitorId}`, { bearer: adminBearer });
    expect(listed.body.items.find((a: { rule_id: string }) => a.rule_id === rule.body.id).state).toBe("acknowledged");
  });

  it("administers users (promote, delete) and adds monitors from a CSV with its per-row report", async () => {
    const user = await registerUser(platform.base, platform.suffix, "grower");
    await page.getByRole("link", { name: "Admin", exact: true }).click();
    await page.getByRole("heading", { name: "Administration" }).waitFor();
    const row = page.locator(`tr[data-user="${user.username}"]`);
    await row.getByRole("button", { name: `Promote ${user.username} to admin` }).click();
    await row.getByRole("cell", { name: "admin", exact: true }).waitFor();
    const csv = join(tmp, "monitors.csv");
    const newId = randomBytes(16).toString("hex");
    writeFileSync(csv, `id,owner,password\n${newId},${user.id},generate\n${newId},${user.id},generate\n`);
    await page.getByLabel(/CSV file/).setInputFiles(csv);
    await page.getByRole("button", { name: "Upload" }).click();
    await page.getByRole("status").filter({ hasText: "1 created · 0 existed · 1 errors" }).waitFor();
    await visit(page, "07-admin");
    const created = await http(platform.base, "GET", `/api/v2/monitors/${newId}`, { bearer: adminBearer });
    expect(created.status).toBe(200);
    page.once("dialog", (d) => void d.accept());
    await row.getByRole("button", { name: `Delete ${user.username}` }).click();
    await row.waitFor({ state: "detached" });
    expect((await http(platform.base, "GET", `/api/v2/users/${user.id}`, { bearer: adminBearer })).status).toBe(404);
  });

  it("works at phone width", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(url("/monitors"));
    await page.getByRole("heading", { name: "Monitors" }).waitFor();
    const overflow = await page.evaluate<number>("document.documentElement.scrollWidth - window.innerWidth");
    expect(overflow).toBeLessThanOrEqual(0);
    await visit(page, "08-monitors-phone");
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it("logs out: the cookie is cleared and the session ended", async () => {
    await page.getByRole("button", { name: "Log out", exact: true }).click();
    await page.getByLabel("Username").waitFor();
    expect(
      (await context.cookies(`${platform.base}/console/`)).find((c) => c.name === "trellis_console_refresh"),
    ).toBeUndefined();
    await page.reload();
    await page.getByLabel("Username").waitFor();
    expect(problems).toEqual([]);
  });
});

// The two-factor flow of docs/auth.md in the browser: enrol through the API, then the console asks for the code.
describe("two-factor login in the console", () => {
  it("asks for the TOTP code after a right password and logs in with it", async () => {
    const user = await registerUser(platform.base, platform.suffix, "mfa");
    const enrol = await http(platform.base, "POST", "/api/v2/me/mfa/totp", { bearer: user.bearer });
    expect(enrol.status).toBe(201);
    const code = (offset = 0) =>
      execFileSync(
        "oathtool",
        ["--totp", "--base32", "--now", `@${Math.floor(Date.now() / 1000) + offset}`, enrol.body.secret],
        {
          encoding: "utf8",
        },
      ).trim();
    const confirm = await http(platform.base, "POST", "/api/v2/me/mfa/totp/confirm", {
      bearer: user.bearer,
      json: { code: code() },
    });
    expect(confirm.status, JSON.stringify(confirm.body)).toBe(200);
    const ctx = await browser.newContext();
    try {
      const { page: p } = await newPage(ctx);
      await login(p, user.username, user.password);
      await p.getByLabel("6-digit code").waitFor();
      await visit(p, "13-login-totp");
      await p.getByLabel("6-digit code").fill("000000");
      await p.getByRole("button", { name: "Verify" }).click();
      await p.getByRole("alert").waitFor();
      // A code for the next step (the confirmation spent this one).
      await p.getByLabel("6-digit code").fill(code(30));
      await p.getByRole("button", { name: "Verify" }).click();
      await p.getByRole("heading", { name: "Monitors" }).waitFor();
    } finally {
      await ctx.close();
    }
  });
});
