import { baseConfigSchema, env, mongoConfigSchema } from "@trellis/runtime";

export const analysisConfigSchema = baseConfigSchema.extend(mongoConfigSchema.shape).extend({
  MONGO_DB: mongoConfigSchema.shape.MONGO_DB.default("trellis_analysis"),
  REDIS_URL: env.url(["redis", "rediss"]).default("redis://127.0.0.1:6379"),
});
