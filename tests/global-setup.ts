import { type Provenance, startStack } from "@trellis/stack";
import type { ProvidedStack } from "@trellis/stack/testing";
import type { TestProject } from "vitest/node";

export interface StackUrls extends ProvidedStack {
  via: Record<"mongo" | "nats" | "redis", Provenance>;
}

declare module "vitest" {
  export interface ProvidedContext {
    stack: StackUrls;
  }
}

/** Starts MongoDB-protocol, NATS and Redis servers once for the integration project. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const stack = await startStack({ log });
  project.provide("stack", {
    mongoUrl: stack.mongo.url,
    natsUrl: stack.nats.url,
    natsUser: stack.nats.natsAuth?.user ?? "",
    natsPassword: stack.nats.natsAuth?.password ?? "",
    natsIssuerSeed: stack.nats.natsAuth?.issuerSeed ?? "",
    redisUrl: stack.redis.url,
    via: { mongo: stack.mongo.via, nats: stack.nats.via, redis: stack.redis.via },
  });
  return async () => {
    await stack.stop();
  };
}
