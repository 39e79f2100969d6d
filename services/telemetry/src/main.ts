import { telemetryCatalog } from "@trellis/contracts";
import { openMongo, runService } from "@trellis/runtime";
import pkg from "../package.json" with { type: "json" };
import { telemetryConfigSchema } from "./config.ts";

await runService({
  name: "telemetry",
  version: pkg.version,
  catalog: telemetryCatalog,
  config: telemetryConfigSchema,
  async start({ config, shutdown, instance }) {
    const mongo = await openMongo({ shutdown, instance }, config.MONGO_URL, config.MONGO_DB);
    return { handlers: {}, checks: { mongo: mongo.ping } };
  },
});
