import { gatewayCatalog } from "@trellis/contracts";
import { runService } from "@trellis/runtime";
import pkg from "../package.json" with { type: "json" };
import { createApp } from "./app.ts";
import { Authenticator } from "./auth/authenticator.ts";
import { Revocations } from "./auth/revocations.ts";
import { SigningKeys } from "./auth/signing-keys.ts";
import { gatewayConfigSchema } from "./config.ts";
import { listen } from "./http/listen.ts";

/** How long the gateway waits at start for auth's revocation list before it listens anyway. */
const REVOCATIONS_START_WAIT_MS = 5_000;

await runService({
  name: "gateway",
  version: pkg.version,
  catalog: gatewayCatalog,
  config: gatewayConfigSchema,
  async start({ config, log, nc, shutdown }) {
    // Keys are fetched on first use; revocations sync before listening when auth answers (JWTs get 503 until then).
    const keys = new SigningKeys(nc);
    const revocations = new Revocations(nc, log, config.REVOCATION_RETENTION_SECONDS * 1000);
    revocations.start();
    shutdown.add("revocation listener", () => revocations.stop());
    if (!(await revocations.whenSynced(REVOCATIONS_START_WAIT_MS)))
      log.warn("auth has not answered with the revocation list yet; access tokens get 503 until it does");
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
