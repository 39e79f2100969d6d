/**
 * Builds the console into `dist/` with Vite, only when its sources changed since the last build
 * (a hash of every input is kept in `dist/.build-hash`). `npm start` and the browser tests call
 * `ensureConsoleBuilt()`, so the README's two commands (`npm ci && npm start`, `npm ci && npm test`)
 * need no extra step, a checkout that pulled new console code rebuilds at the next start, and an
 * unchanged one starts without rebuilding (~0.1 s for the hash). `node build.ts --force` rebuilds.
 *
 * Why not the root `prepare` script: `npm ci --ignore-scripts` (the Dockerfile's, and some CI
 * setups') skips it, and a console edited after `npm ci` would be served stale.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";

const root = import.meta.dirname;
export const consoleDist = join(root, "dist");
const stamp = join(consoleDist, ".build-hash");

function inputs(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) inputs(path, out);
    else out.push(path);
  }
  return out;
}

/** A digest of everything the build reads (sources, page, config, this script, locked dependency versions). */
export function consoleSourceHash(): string {
  const hash = createHash("sha256");
  const files = [
    ...inputs(join(root, "src")),
    ...inputs(join(root, "public")),
    join(root, "index.html"),
    // The one module the console imports from outside it (plain constants, no zod).
    join(root, "..", "contracts", "src", "telemetry-constants.ts"),
    join(root, "vite.config.ts"),
    // How it is built too: a fixed build script rebuilds what it built before.
    join(root, "build.ts"),
    join(root, "package.json"),
    join(root, "..", "..", "package-lock.json"),
  ];
  for (const file of files) hash.update(relative(root, file)).update("\0").update(readFileSync(file)).update("\0");
  return hash.digest("hex");
}

/** Builds when `dist/` is missing or stale; answers whether it built. */
export async function ensureConsoleBuilt(options: { force?: boolean; log?: (line: string) => void } = {}) {
  const digest = consoleSourceHash();
  const built = existsSync(stamp) ? readFileSync(stamp, "utf8").trim() : "";
  if (!options.force && built === digest && existsSync(join(consoleDist, "index.html"))) return false;
  const started = Date.now();
  const { build } = await import("vite");
  // Vite builds for whatever NODE_ENV says: under vitest ("test") it compiled JSX in development
  // (source paths and line numbers in the bundle, ~10 KB more), and the stamp then had npm start
  // serve that build. The console is always built for production.
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = "production";
  try {
    await build({ configFile: join(root, "vite.config.ts"), root, logLevel: "warn", mode: "production" });
  } finally {
    if (nodeEnv === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = nodeEnv;
  }
  writeFileSync(stamp, `${digest}\n`);
  options.log?.(`console built into ${relative(process.cwd(), consoleDist) || "."} in ${Date.now() - started} ms`);
  return true;
}

if (import.meta.main) {
  await ensureConsoleBuilt({ force: process.argv.includes("--force"), log: (l) => process.stderr.write(`${l}\n`) });
}
