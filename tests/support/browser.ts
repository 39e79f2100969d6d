/**
 * A real browser for the console's tests: Debian's chromium (`apt-get install chromium`, which
 * `.ci/run` does) driven by playwright-core (Playwright's own browser download cannot work here).
 * Every page visited is checked by axe-core and photographed into artifacts/console-screenshots/.
 */
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { freePort } from "@trellis/stack";
import { type ServiceProcess, serviceEnvFrom, spawnService, uniqueSuffix } from "@trellis/stack/testing";
import type { BrowserContext, Page } from "playwright-core";
import { expect } from "vitest";
import { SCREENSHOTS } from "./chromium.ts";
import { ADMIN, type Platform } from "./platform.ts";

export { CHROMIUM, CHROMIUM_ARGS, launch, SCREENSHOTS } from "./chromium.ts";

/** A page that fails the test on any CSP violation or uncaught page error. */
export async function newPage(context: BrowserContext): Promise<{ page: Page; problems: string[] }> {
  const page = await context.newPage();
  const problems: string[] = [];
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() === "error" && /Content.Security.Policy|Refused to/i.test(msg.text())) problems.push(msg.text());
  });
  return { page, problems };
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/**
 * axe-core on the page as it is (WCAG 2.x A/AA rules and best practices): no serious or critical
 * violation. Injected through the DevTools protocol (`evaluate`), which the page's CSP does not
 * govern, so the page keeps its real CSP while it is checked.
 */
export async function checkA11y(page: Page, name: string): Promise<void> {
  await page.evaluate(axeSource);
  const violations = (await page.evaluate(
    'axe.run(document, { resultTypes: ["violations"] }).then((r) => r.violations)',
  )) as AxeViolation[];
  const bad = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  expect(
    bad.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`),
    `axe on ${name}`,
  ).toEqual([]);
}

/** axe, then a full-page screenshot `<name>.png`, for the CI artefacts. */
export async function visit(page: Page, name: string): Promise<void> {
  await checkA11y(page, name);
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** The parts of a <video> the tests read (their TypeScript has no DOM library). */
export interface VideoLike {
  readyState: number;
  duration: number;
  currentTime: number;
  paused: boolean;
  seeking: boolean;
}

/** Logs in through the console's form, from its root (a deep link keeps its path). */
export async function login(p: Page, base: string, username: string, password: string, path = "/") {
  await p.goto(`${base}/console${path}`);
  await p.getByLabel("Username").fill(username);
  await p.getByLabel("Password").fill(password);
  await p.getByRole("button", { name: "Log in" }).click();
}

/**
 * startPlatform's services and gateway, given up to 90 s each to be ready instead of the harness's
 * 20 s: a browser test file starts several processes (and chromium) at once, which a busy 2-core
 * machine can take longer than that to bring up.
 */
export async function startSlowly(
  stack: Parameters<typeof serviceEnvFrom>[0],
  services: string[],
  extra: Record<string, string>,
): Promise<Platform> {
  const suffix = uniqueSuffix();
  const env = (service: string, more: Record<string, string> = {}) => ({
    ...serviceEnvFrom(stack),
    MONGO_DB: `t_${service}_${suffix}`,
    REDIS_KEY_PREFIX: `t:${suffix}:${service}:`,
    TRELLIS_ADMIN_USERNAME: ADMIN.username,
    TRELLIS_ADMIN_PASSWORD: ADMIN.password,
    INSTANCE_ID: `${service}-${suffix}`,
    ...extra,
    ...more,
  });
  const procs: ServiceProcess[] = [];
  const ready = (p: ServiceProcess) => p.waitForLog((l) => l.msg === "service ready", 90_000).then(() => p);
  const stop = () => Promise.all(procs.map((p) => p.stop())).then(() => undefined);
  try {
    const port = await freePort();
    const all = [
      ...services.map((s) => spawnService(s, env(s))),
      spawnService("gateway", env("gateway", { PORT: String(port) })),
    ];
    procs.push(...all);
    await Promise.all(all.map(ready));
    // Until the gateway has the revocation list every access token gets a 503 (its /readyz says
    // "revocations"): a first request with a bearer could meet it on a busy machine.
    const gateway = all[all.length - 1] as ServiceProcess;
    await gateway.waitForLog((l) => l.msg === "revocation list synced", 90_000);
    const base = `http://127.0.0.1:${port}`;
    return { suffix, env, gateways: [base], base, procs, dbName: (s) => `t_${s}_${suffix}`, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
