import { authCatalog } from "@trellis/contracts";
import { openMongo, runService } from "@trellis/runtime";
import pkg from "../package.json" with { type: "json" };
import { authConfigSchema } from "./config.ts";

await runService({
  name: "auth",
  version: pkg.version,
  catalog: authCatalog,
  config: authConfigSchema,
  async start({ config, shutdown, instance }) {
    const mongo = await openMongo({ shutdown, instance }, config.MONGO_URL, config.MONGO_DB);
    return { handlers: {}, checks: { mongo: mongo.ping } };
  },
});
