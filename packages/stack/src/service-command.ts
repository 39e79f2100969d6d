import { join } from "node:path";
import { pathToFileURL } from "node:url";

/**
 * Node's arguments for a service process: the tracing preload first (with tracing on it must
 * patch MongoDB, ioredis and HTTP before the service imports them; off, it loads
 * nothing), then the service's entry point. The Dockerfile's CMD does the same.
 */
export function serviceArgs(root: string, service: string): string[] {
  return [
    "--import",
    pathToFileURL(join(root, "packages", "runtime", "src", "tracing-preload.ts")).href,
    join(root, "services", service, "src", "main.ts"),
  ];
}
