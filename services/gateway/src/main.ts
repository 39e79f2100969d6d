import { gatewayCatalog } from "@trellis/contracts";
import { runService } from "@trellis/runtime";
import pkg from "../package.json" with { type: "json" };
import { createApp } from "./app.ts";
import { Authenticator } from "./auth/authenticator.ts";
import { Revocations } from "./auth/revocations.ts";
import { SigningKeys } from "./auth/signing-keys.ts";
import { gatewayConfigSchema } from "./config.ts";
import { listen } from "./http/listen.ts";

await runService({
  name: "gateway",
  version: pkg.version,
  catalog: gatewayCatalog,
  config: gatewayConfigSchema,
  async start({ config, log, nc, shutdown }) {
    // Keys are fetched on first use; revocations sync in the background (JWTs get 503 until then).
    const keys = new SigningKeys(nc);
    const revocations = new Revocations(nc, log, config.REVOCATION_RETENTION_SECONDS * 1000);
    revocations.start();
    shutdown.add("revocation listener", () => revocations.stop());
    const authenticator = new Authenticator(nc, keys, revocations, {
      issuer: config.JWT_ISSUER,
      audience: config.JWT_AUDIENCE,
      v1CacheMs: config.V1_TOKEN_CACHE_MS,
    });
    const { app } = createApp({ nc, log, config, version: pkg.version, authenticator });
    const server = await listen(app, config.PORT, config.HOST, config.HTTP_REQUEST_TIMEOUT_MS);
    // Registered after NATS, so it runs before the NATS drain: stop accepting, finish in-flight.
    shutdown.add("http server", () => server.close());
    log.info({ url: `http://${config.HOST}:${server.port}` }, "gateway listening");
    return { handlers: {} };
  },
});
