/**
 * A real browser for the console's tests: Debian's chromium (`apt-get install chromium`, which
 * `.ci/run` does) driven by playwright-core (Playwright's own browser download cannot work here).
 * Every page visited is checked by axe-core and photographed into artifacts/console-screenshots/.
 */
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { expect } from "vitest";
import { SCREENSHOTS } from "./chromium.ts";

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
