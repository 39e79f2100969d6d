export * from "./binaries.ts";
export * from "./containers.ts";
export * from "./launcher.ts";
export * from "./nats-config.ts";
export * from "./ports.ts";
export * from "./stack.ts";
export * from "./supervisor.ts";
export * from "./types.ts";
