/**
 * Patches the libraries we do not own the call sites of: `node:http` (the gateway's server
 * spans; outgoing requests only inside a trace), Express (the route template names the HTTP
 * span; a span per route handler), MongoDB and ioredis (a span per command, only inside a
 * trace, so background work such as BullMQ's polling and the outbox sweeper adds none).
 *
 * The services are ES modules and import these CommonJS packages with `import`, which
 * require-in-the-middle alone does not see for a package's entry (tried on Node 24: MongoDB's
 * internal files were patched, Express and ioredis were not). import-in-the-middle's loader sees
 * them; registered with `module.registerHooks` (synchronous, in-thread; Node ≥ 24.11.1) and only
 * for these packages, so the services' own TypeScript modules never go through it. Loaded by
 * `tracing-preload.ts` only when tracing is on.
 */
import { register as registerAsyncHooks } from "node:module";
import { registerInstrumentations } from "@opentelemetry/instrumentation";
import { ExpressInstrumentation, ExpressLayerType } from "@opentelemetry/instrumentation-express";
import { HttpInstrumentation } from "@opentelemetry/instrumentation-http";
import { IORedisInstrumentation } from "@opentelemetry/instrumentation-ioredis";
import { MongoDBInstrumentation } from "@opentelemetry/instrumentation-mongodb";
import { register, supportsSyncHooks } from "import-in-the-middle/register-hooks.mjs";

const PATCHED = ["express", "ioredis", "mongodb"];
if (supportsSyncHooks()) register({ include: PATCHED });
else registerAsyncHooks("import-in-the-middle/hook.mjs", import.meta.url, { data: { include: PATCHED } });

/** Probes and scrapes: a span each would drown the traces that matter. */
const UNTRACED_PATHS = new Set(["/metrics", "/healthz", "/readyz"]);

registerInstrumentations({
  instrumentations: [
    new HttpInstrumentation({
      ignoreIncomingRequestHook: (req) => UNTRACED_PATHS.has((req.url ?? "").split("?", 1)[0] ?? ""),
      requireParentforOutgoingSpans: true,
    }),
    // Middleware and router layers (request id, metrics, CORS, body parsing, ...) would add ten
    // spans to every request and tell nothing the HTTP span does not.
    new ExpressInstrumentation({ ignoreLayersType: [ExpressLayerType.MIDDLEWARE, ExpressLayerType.ROUTER] }),
    new MongoDBInstrumentation({ requireParentSpan: true }),
    // The command name only: arguments hold job payloads and keys.
    new IORedisInstrumentation({ requireParentSpan: true, dbStatementSerializer: (command) => command }),
  ],
});
(globalThis as Record<symbol, unknown>)[Symbol.for("trellis.tracing.instrumented")] = true;
