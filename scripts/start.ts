/**
 * `npm start`: the whole Trellis stack in the foreground. Dependencies come from the harness
 * (URLs from TRELLIS_*_URL → containers when a runtime is reachable → local binaries, data kept in
 * `.data/`), then the five services start as child processes. Ctrl-C / SIGTERM stops the services
 * gracefully, then the servers, and leaves no process behind.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { SERVICE_NAMES } from "@trellis/contracts";
import { type Stack, serviceEnv, startStack } from "@trellis/stack";

const root = join(import.meta.dirname, "..");
const port = process.env.PORT ?? "8080";
const host = process.env.HOST ?? "127.0.0.1";
const say = (line: string) => process.stderr.write(`trellis: ${line}\n`);

const children = new Map<string, ChildProcess>();
let stack: Stack | undefined;
let stopping = false;

async function stopAll(code: number): Promise<never> {
  if (stopping) return new Promise(() => {});
  stopping = true;
  say("stopping services");
  await Promise.all(
    [...children.values()].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const kill = setTimeout(() => child.kill("SIGKILL"), 15_000);
          child.once("exit", () => {
            clearTimeout(kill);
            resolve();
          });
          child.kill("SIGTERM");
        }),
    ),
  );
  say("stopping servers");
  await stack?.stop();
  say("stopped");
  process.exit(code);
}

process.once("SIGINT", () => void stopAll(0));
process.once("SIGTERM", () => void stopAll(0));

try {
  stack = await startStack({ dataDir: join(root, ".data"), persistent: true, log: say });
} catch (err) {
  say(`could not start the servers: ${(err as Error).message}`);
  process.exit(1);
}

for (const service of SERVICE_NAMES) {
  const child = spawn(process.execPath, [join(root, "services", service, "src", "main.ts")], {
    cwd: root,
    stdio: ["ignore", "inherit", "inherit"],
    detached: true, // signals come from this launcher only, in order
    env: {
      ...process.env,
      ...serviceEnv(stack),
      PORT: port,
      HOST: host,
    },
  });
  children.set(service, child);
  child.once("exit", (code, signal) => {
    if (stopping) return;
    say(`${service} exited (${signal ?? code}); stopping everything`);
    void stopAll(1);
  });
}

const deadline = Date.now() + 60_000;
while (!stopping && Date.now() < deadline) {
  try {
    const res = await fetch(`http://${host}:${port}/readyz`);
    if (res.ok) {
      say(`ready: http://${host}:${port} (readyz: five services healthy). Ctrl-C stops everything.`);
      break;
    }
  } catch {
    // not listening yet
  }
  await new Promise((r) => setTimeout(r, 250));
}
if (!stopping && Date.now() >= deadline) say("services did not become ready within 60 s; see the logs above");
