import { baseConfigSchema, mongoConfigSchema } from "@trellis/runtime";

export const telemetryConfigSchema = baseConfigSchema.extend(mongoConfigSchema.shape).extend({
  MONGO_DB: mongoConfigSchema.shape.MONGO_DB.default("trellis_telemetry"),
});
