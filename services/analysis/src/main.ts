import { analysisCatalog } from "@trellis/contracts";
import { openMongo, openRedis, runService } from "@trellis/runtime";
import pkg from "../package.json" with { type: "json" };
import { analysisConfigSchema } from "./config.ts";
import { trackedVideoHandlers } from "./tracked/handlers.ts";
import { TrackedVideosStore } from "./tracked/store.ts";

await runService({
  name: "analysis",
  version: pkg.version,
  catalog: analysisCatalog,
  config: analysisConfigSchema,
  async start({ config, shutdown, instance }) {
    const mongo = await openMongo({ shutdown, instance }, config.MONGO_URL, config.MONGO_DB);
    const redis = await openRedis({ shutdown, instance }, config.REDIS_URL);
    const tracked = new TrackedVideosStore(mongo.db);
    return {
      handlers: { ...trackedVideoHandlers(tracked) },
      checks: { mongo: mongo.ping, redis: async () => void (await redis.ping()) },
    };
  },
});
