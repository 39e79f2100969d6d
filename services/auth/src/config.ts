import { baseConfigSchema, mongoConfigSchema } from "@trellis/runtime";

export const authConfigSchema = baseConfigSchema.extend(mongoConfigSchema.shape).extend({
  MONGO_DB: mongoConfigSchema.shape.MONGO_DB.default("trellis_auth"),
});
