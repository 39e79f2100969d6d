import { analysisCatalog } from "@trellis/contracts";
import { openMongo, openRedis, runService } from "@trellis/runtime";
import pkg from "../package.json" with { type: "json" };
import { analysisConfigSchema } from "./config.ts";

await runService({
  name: "analysis",
  version: pkg.version,
  catalog: analysisCatalog,
  config: analysisConfigSchema,
  async start({ config, shutdown, instance }) {
    const mongo = await openMongo({ shutdown, instance }, config.MONGO_URL, config.MONGO_DB);
    const redis = await openRedis({ shutdown, instance }, config.REDIS_URL);
    return {
      handlers: {},
      checks: { mongo: mongo.ping, redis: async () => void (await redis.ping()) },
    };
  },
});
