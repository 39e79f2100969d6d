import { gatewayCatalog } from "@trellis/contracts";
import { runService } from "@trellis/runtime";
import pkg from "../package.json" with { type: "json" };
import { createApp } from "./app.ts";
import { gatewayConfigSchema } from "./config.ts";
import { listen } from "./http/listen.ts";

await runService({
  name: "gateway",
  version: pkg.version,
  catalog: gatewayCatalog,
  config: gatewayConfigSchema,
  async start({ config, log, nc, shutdown }) {
    const app = createApp({ nc, log, config, version: pkg.version });
    const server = await listen(app, config.PORT, config.HOST);
    // Registered after NATS, so it runs before the NATS drain: stop accepting, finish in-flight.
    shutdown.add("http server", () => server.close());
    log.info({ url: `http://${config.HOST}:${server.port}` }, "gateway listening");
    return { handlers: {} };
  },
});
