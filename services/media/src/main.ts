import { mediaCatalog } from "@trellis/contracts";
import { openMongo, runService } from "@trellis/runtime";
import pkg from "../package.json" with { type: "json" };
import { mediaConfigSchema } from "./config.ts";

await runService({
  name: "media",
  version: pkg.version,
  catalog: mediaCatalog,
  config: mediaConfigSchema,
  async start({ config, shutdown, instance }) {
    const mongo = await openMongo({ shutdown, instance }, config.MONGO_URL, config.MONGO_DB);
    return { handlers: {}, checks: { mongo: mongo.ping } };
  },
});
