import { ensureConsoleBuilt } from "../../packages/console/build.ts";

/** The tests drive the console as `npm start` serves it: built (again) when its sources changed. */
export default async function setup(): Promise<void> {
  await ensureConsoleBuilt({ log: (line) => process.stderr.write(`${line}\n`) });
}
