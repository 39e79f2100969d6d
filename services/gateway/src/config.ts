import { baseConfigSchema, env } from "@trellis/runtime";
import { z } from "zod";

export const gatewayConfigSchema = baseConfigSchema
  .extend({
    /** The HTTP port (the only public one; 0: any free port). */
    PORT: env.int(0, 65_535).default(8080),
    /** The address HTTP listens on (`0.0.0.0` in a container). */
    HOST: z.string().min(1).default("127.0.0.1"),
    /** Comma-separated origins allowed by CORS, or `*` for any (the Altoponix web client is served elsewhere). */
    CORS_ORIGINS: z
      .string()
      .default("*")
      .transform((v) =>
        v.trim() === "*"
          ? ("*" as const)
          : v
              .split(",")
              .map((o) => o.trim())
              .filter(Boolean),
      ),
    /** Largest JSON body accepted, in bytes or with a unit (`1mb`). Monitors send base64 images. */
    BODY_LIMIT: z
      .string()
      .regex(/^\d+(b|kb|mb)?$/i, "must be bytes or a size like 2mb")
      .default("2mb"),
    /** How long one NATS request may take before the client gets 504. */
    REQUEST_TIMEOUT_MS: env.int(50, 120_000).default(5_000),
    /**
     * How long one HTTP request may take from its first byte to its last, body included: a video
     * upload streams for as long as it needs within it (default 1 hour).
     */
    HTTP_REQUEST_TIMEOUT_MS: env.int(1_000, 24 * 3_600_000).default(3_600_000),
    /** How long /readyz waits for each service's health answer. */
    READINESS_TIMEOUT_MS: env.int(50, 30_000).default(1_000),
    /** The `iss` access tokens must carry: auth's JWT_ISSUER. */
    JWT_ISSUER: z.string().min(1).default("trellis"),
    /** The `aud` access tokens must carry: auth's JWT_AUDIENCE. */
    JWT_AUDIENCE: z.string().min(1).default("trellis"),
    /** How long a resolved v1 (32-hex) token is trusted before auth is asked again; revocations evict at once. */
    V1_TOKEN_CACHE_MS: env.int(0, 60_000).default(5_000),
    /** How long revoked session ids are remembered: longer than any access token lives. */
    REVOCATION_RETENTION_SECONDS: env.int(60, 86_400).default(3_600),
    /**
     * Check every answer against the route's declared responses; a violation is logged and answered
     * with 500 instead of an off-contract body. Costs a schema parse per response.
     */
    VALIDATE_RESPONSES: env.bool().default(true),
    /** Express `trust proxy`: hops of reverse proxies whose X-Forwarded-For is believed. */
    TRUST_PROXY: env.int(0, 10).default(0),
  })
  .refine((c) => c.METRICS_PORT === undefined || c.METRICS_PORT === 0 || c.METRICS_PORT !== c.PORT, {
    path: ["METRICS_PORT"],
    message: "must differ from PORT: metrics are never served on the public port",
  });
export type GatewayConfig = z.output<typeof gatewayConfigSchema>;
