export * from "./binaries.ts";
export * from "./containers.ts";
export * from "./nats-config.ts";
export * from "./ports.ts";
export * from "./redis-config.ts";
export * from "./stack.ts";
export * from "./types.ts";
