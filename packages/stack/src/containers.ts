import { connect as connectTcp } from "node:net";
import { generateNatsAuth, natsServerConfig } from "./nats-config.ts";
import { freePort, waitForPort } from "./ports.ts";
import { REDIS_DURABILITY_ARGS } from "./redis-config.ts";
import type { Dependency, DependencyName } from "./types.ts";

/**
 * Images per dependency. On a machine with Docker these are the official images; where none can be
 * pulled (CI here), `scripts/build-images.sh` builds equivalent local images from the same binaries
 * the local-binary path uses and `.ci/run` points these variables at them.
 */
export const images = (): Record<DependencyName, string> => ({
  mongo: process.env.TRELLIS_MONGO_IMAGE ?? "mongo:7",
  nats: process.env.TRELLIS_NATS_IMAGE ?? "nats:2.14",
  redis: process.env.TRELLIS_REDIS_IMAGE ?? "redis:7",
});

const PORTS: Record<DependencyName, number> = { mongo: 27017, nats: 4222, redis: 6379 };
/** NATS's HTTP monitoring port in the container (`/varz`, `/healthz`), published on a free port. */
const NATS_MONITOR_PORT = 8222;

/** The line each server logs once it accepts connections (official image | local image). */
const READY: Record<DependencyName, RegExp> = {
  mongo: /Waiting for connections|ferretdb: listening/,
  nats: /Server is ready/,
  redis: /Ready to accept connections/,
};

const SCHEME: Record<DependencyName, string> = { mongo: "mongodb", nats: "nats", redis: "redis" };

/** `hostPort`: publish on this port of 127.0.0.1 instead of a free one. */
export async function startContainer(name: DependencyName, requestedPort?: number): Promise<Dependency> {
  const { GenericContainer, Wait, getContainerRuntimeClient } = await import("testcontainers");
  // NATS gets a fixed host port even when none was asked for: a runtime may map a stopped and
  // started container (`outage`) to another ephemeral port, and clients reconnect to the same URL.
  const hostPort = requestedPort ?? (name === "nats" ? await freePort() : undefined);
  /**
   * Publishes ports on 127.0.0.1 only (Testcontainers binds 0.0.0.0 and has no option for it):
   * test servers must not be reachable from the network.
   */
  class LoopbackContainer extends GenericContainer {
    protected override async beforeContainerCreated(): Promise<void> {
      for (const bindings of Object.values(this.hostConfig.PortBindings ?? {})) {
        for (const binding of (bindings ?? []) as { HostIp?: string }[]) binding.HostIp = "127.0.0.1";
      }
    }
  }
  const image = images()[name];
  const main = hostPort ? { container: PORTS[name], host: hostPort } : PORTS[name];
  // The monitoring port fixed too, for the same reason (monitorUrl stays valid across an outage).
  const monitor = name === "nats" ? [{ container: NATS_MONITOR_PORT, host: await freePort() }] : [];
  let container = new LoopbackContainer(image)
    .withExposedPorts(main, ...monitor)
    .withWaitStrategy(Wait.forLogMessage(READY[name]))
    .withStartupTimeout(60_000);
  // Same configuration for the official image and ours: both have nats-server as entrypoint.
  const natsAuth = name === "nats" ? generateNatsAuth() : undefined;
  if (natsAuth) {
    container = container
      .withCopyContentToContainer([
        {
          content: natsServerConfig({
            listen: "0.0.0.0:4222",
            monitorListen: `0.0.0.0:${NATS_MONITOR_PORT}`,
            storeDir: "/data",
            auth: natsAuth,
          }),
          target: "/nats.conf",
        },
      ])
      .withCommand(["-c", "/nats.conf"]);
  }
  // Flags only: the official image's entrypoint puts redis-server in front, ours is redis-server.
  // --protected-mode no: the official image's default already; connections come from the host.
  if (name === "redis") {
    container = container.withCommand(["--protected-mode", "no", "--dir", "/data", ...REDIS_DURABILITY_ARGS]);
  }
  const started = await container.start();
  const url = `${SCHEME[name]}://${started.getHost()}:${started.getMappedPort(PORTS[name])}`;
  let stopping: Promise<void> | undefined;
  return {
    name,
    url,
    via: "container",
    description: `${image} (container ${started.getId().slice(0, 12)})`,
    ...(natsAuth
      ? { natsAuth, monitorUrl: `http://${started.getHost()}:${started.getMappedPort(NATS_MONITOR_PORT)}` }
      : {}),
    stop() {
      stopping ??= started.stop({ timeout: 5_000 }).then(() => undefined);
      return stopping;
    },
    outage: {
      // The container is stopped and started again (not removed): same data, same port mapping.
      async down() {
        const client = await getContainerRuntimeClient();
        await client.container.stop(client.container.getById(started.getId()), { timeout: 5 });
      },
      async up() {
        const client = await getContainerRuntimeClient();
        await client.container.start(client.container.getById(started.getId()));
        const port = Number(new URL(url).port);
        await waitForPort(port, 30_000, started.getHost());
        if (name === "nats") await waitForNatsReady(url);
      },
    },
  };
}

/** A NATS server accepts TCP before it is ready; its INFO line says it is. */
async function waitForNatsReady(url: string): Promise<void> {
  const { hostname: host, port } = new URL(url);
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connectTcp(Number(port), host);
      const done = (v: boolean) => {
        socket.destroy();
        resolve(v);
      };
      socket.once("data", (d) => done(d.toString().startsWith("INFO")));
      socket.once("error", () => done(false));
      socket.setTimeout(2_000, () => done(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`NATS at ${url} did not come back`);
}

let runtimeProbe: Promise<boolean> | undefined;

/**
 * Whether Testcontainers can reach a container runtime. Cheap when there is obviously none (no
 * DOCKER_HOST, no socket), so the local-binary path does not wait on Testcontainers' probing.
 */
export function containerRuntimeReachable(): Promise<boolean> {
  runtimeProbe ??= (async () => {
    const { existsSync } = await import("node:fs");
    const candidates = [
      process.env.DOCKER_HOST,
      "/var/run/docker.sock",
      `${process.env.XDG_RUNTIME_DIR}/podman/podman.sock`,
    ];
    if (!candidates.some((c) => c && (c.startsWith("tcp://") || existsSync(c.replace(/^unix:\/\//, ""))))) return false;
    try {
      const { getContainerRuntimeClient } = await import("testcontainers");
      await getContainerRuntimeClient();
      return true;
    } catch {
      return false;
    }
  })();
  return runtimeProbe;
}
