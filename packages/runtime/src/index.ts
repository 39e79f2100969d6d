export * from "./client.ts";
export * from "./config.ts";
export * from "./logger.ts";
export * from "./mongo.ts";
export * from "./nats.ts";
export * from "./serve.ts";
export * from "./service.ts";
export * from "./shutdown.ts";
