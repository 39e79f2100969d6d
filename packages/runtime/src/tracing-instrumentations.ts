/**
 * Patches the libraries we do not own the call sites of: MongoDB and ioredis (a span per command,
 * only inside a trace, so background work such as BullMQ's polling and the outbox sweeper adds
 * none) and `node:http`'s outgoing requests (only inside a trace). Incoming HTTP requests are not
 * patched: the gateway's own middleware makes their spans (services/gateway/src/http/tracing.ts),
 * at a tenth of the cost @opentelemetry/instrumentation-http and -express measured.
 *
 * The services are ES modules and import these CommonJS packages with `import`, which
 * require-in-the-middle alone does not see for a package's entry (tried on Node 24: MongoDB's
 * internal files were patched, ioredis and Express were not). import-in-the-middle's loader sees
 * them; registered with `module.registerHooks` (synchronous, in-thread; Node >= 24.11.1) and only
 * for these packages, so the services' own TypeScript modules never go through it. Loaded by
 * `tracing-preload.ts` only when tracing is on.
 */
import { register as registerAsyncHooks } from "node:module";
import { registerInstrumentations } from "@opentelemetry/instrumentation";
import { HttpInstrumentation } from "@opentelemetry/instrumentation-http";
import { IORedisInstrumentation } from "@opentelemetry/instrumentation-ioredis";
import { MongoDBInstrumentation } from "@opentelemetry/instrumentation-mongodb";
import { register, supportsSyncHooks } from "import-in-the-middle/register-hooks.mjs";
import { commandShape } from "./tracing.ts";

const PATCHED = ["ioredis", "mongodb"];
if (supportsSyncHooks()) register({ include: PATCHED });
else registerAsyncHooks("import-in-the-middle/hook.mjs", import.meta.url, { data: { include: PATCHED } });

registerInstrumentations({
  instrumentations: [
    new HttpInstrumentation({ disableIncomingRequestInstrumentation: true, requireParentforOutgoingSpans: true }),
    new MongoDBInstrumentation({
      requireParentSpan: true,
      dbStatementSerializer: (command) => JSON.stringify(commandShape(command)),
    }),
    // The command name only: arguments hold job payloads and keys.
    new IORedisInstrumentation({ requireParentSpan: true, dbStatementSerializer: (command) => command }),
  ],
});
(globalThis as Record<symbol, unknown>)[Symbol.for("trellis.tracing.instrumented")] = true;
