import { rmSync } from "node:fs";
import { ensureConsoleBuilt } from "../../packages/console/build.ts";
import { SCREENSHOTS } from "../support/chromium.ts";

/**
 * The tests drive the console as `npm start` serves it: built (again) when its sources changed.
 * The screenshots folder starts empty, so it holds this run's pages only.
 */
export default async function setup(): Promise<void> {
  rmSync(SCREENSHOTS, { recursive: true, force: true });
  await ensureConsoleBuilt({ log: (line) => process.stderr.write(`${line}\n`) });
}
