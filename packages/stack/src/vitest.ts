/**
 * Per-file servers for vitest integration tests. Services answer fixed subjects in fixed queue
 * groups and own JetStream streams and durable consumers by fixed names, so two test files running
 * services on one NATS server would answer each other's requests. `useFileStack` gives a file a NATS
 * server of its own (started like the global one: same provenance rules and configuration), so
 * files can run in parallel; MongoDB and Redis stay shared from global setup, and files keep apart
 * there by database names and Redis key prefixes.
 */
import { aroundAll, inject } from "vitest";
import { startNats } from "./stack.ts";
import { type ProvidedStack, providedNats } from "./testing.ts";
import type { Dependency, Outage } from "./types.ts";

declare module "vitest" {
  export interface ProvidedContext {
    stack: ProvidedStack;
  }
}

/**
 * Call at the top level of a test file. The NATS server runs around the whole file: it starts
 * before the file's first `beforeAll` and stops after its last `afterAll`, once the file's services
 * have drained, even when a hook fails (`aroundAll`: vitest skips the remaining `afterAll` hooks
 * after a failing one, which would leave the server running). The NATS fields (and `via`) throw if
 * read before the server is up, so a value captured at import time cannot point at another server.
 */
export function useFileStack(): ProvidedStack & { readonly natsOutage: Outage } {
  const shared = inject("stack");
  let nats: Dependency | undefined;
  aroundAll(async (runSuite) => {
    const server = await startNats();
    nats = server;
    try {
      await runSuite();
    } finally {
      await server.stop();
    }
  });
  const started = (): Dependency => {
    if (!nats)
      throw new Error("useFileStack: the file's NATS server starts with the file's hooks; read it in a hook or test");
    return nats;
  };
  return {
    mongoUrl: shared.mongoUrl,
    redisUrl: shared.redisUrl,
    get natsUrl() {
      return providedNats(started()).natsUrl;
    },
    get natsUser() {
      return providedNats(started()).natsUser;
    },
    get natsPassword() {
      return providedNats(started()).natsPassword;
    },
    get natsIssuerSeed() {
      return providedNats(started()).natsIssuerSeed;
    },
    get via() {
      return { ...shared.via, nats: started().via };
    },
    /** Stops the file's NATS server and starts it again on the same port and store dir. */
    get natsOutage() {
      const { outage } = started();
      if (!outage) throw new Error("useFileStack: a NATS server given by TRELLIS_NATS_URL cannot be stopped by a test");
      return outage;
    },
  };
}
