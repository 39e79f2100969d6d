/**
 * docs/configuration.md, generated from the config schemas the services load at start, so the
 * reference cannot drift from them: `npm run docs:config` writes it, and
 * `scripts/docs/configuration.test.ts` fails while the committed file differs.
 *
 * What a variable accepts and its default come from the zod schema itself (its JSON Schema, and
 * the default's value); what it does comes from the doc comment above the field in the source,
 * which is what a developer reads there. The comments are read from the source rather than moved
 * into `.describe()` calls: the schemas stay as they are written and read, and zod keeps no
 * comments at run time. A `@default` tag in a comment replaces a default that depends on the
 * machine (a path under the home directory).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  baseConfigSchema,
  egressConfigSchema,
  mongoConfigSchema,
  outboxConfigSchema,
  redisSentinelConfigSchema,
} from "@trellis/runtime";
import { z } from "zod";
import { analysisConfigSchema } from "../../services/analysis/src/config.ts";
import { authConfigSchema } from "../../services/auth/src/config.ts";
import { gatewayConfigSchema } from "../../services/gateway/src/config.ts";
import { mediaConfigSchema } from "../../services/media/src/config.ts";
import { telemetryConfigSchema } from "../../services/telemetry/src/config.ts";

export const ROOT = join(import.meta.dirname, "..", "..");
export const CONFIGURATION_MD = "docs/configuration.md";

type Shape = Record<string, z.ZodType>;

interface Source {
  /** Heading of its table. */
  title: string;
  /** The schema's name in the code. */
  schemaName: string;
  /** Repository path of the file the schema (and its comments) is written in. */
  file: string;
  shape: Shape;
}

/** Schemas of the runtime that services compose theirs from (documented once each). */
const PIECES: readonly Source[] = [
  {
    title: "Every service",
    schemaName: "baseConfigSchema",
    file: "packages/runtime/src/config.ts",
    shape: baseConfigSchema.shape,
  },
  {
    title: "Services with a database",
    schemaName: "mongoConfigSchema",
    file: "packages/runtime/src/config.ts",
    shape: mongoConfigSchema.shape,
  },
  {
    title: "Redis through Sentinel",
    schemaName: "redisSentinelConfigSchema",
    file: "packages/runtime/src/redis.ts",
    shape: redisSentinelConfigSchema.shape,
  },
  {
    title: "Transactional outbox",
    schemaName: "outboxConfigSchema",
    file: "packages/runtime/src/outbox.ts",
    shape: outboxConfigSchema.shape,
  },
  {
    title: "Egress",
    schemaName: "egressConfigSchema",
    file: "packages/runtime/src/egress.ts",
    shape: egressConfigSchema.shape,
  },
];

const SERVICES: readonly Source[] = [
  {
    title: "gateway",
    schemaName: "gatewayConfigSchema",
    file: "services/gateway/src/config.ts",
    shape: gatewayConfigSchema.shape,
  },
  { title: "auth", schemaName: "authConfigSchema", file: "services/auth/src/config.ts", shape: authConfigSchema.shape },
  {
    title: "telemetry",
    schemaName: "telemetryConfigSchema",
    file: "services/telemetry/src/config.ts",
    shape: telemetryConfigSchema.shape,
  },
  {
    title: "media",
    schemaName: "mediaConfigSchema",
    file: "services/media/src/config.ts",
    shape: mediaConfigSchema.shape,
  },
  {
    title: "analysis",
    schemaName: "analysisConfigSchema",
    file: "services/analysis/src/config.ts",
    shape: analysisConfigSchema.shape,
  },
];

interface Comment {
  text: string;
  /** A `@default` tag's text, shown instead of the schema's default. */
  shownDefault?: string;
}

/** The doc comment written right above each `NAME:` field of a file, by variable name. */
export function fieldComments(source: string): Map<string, Comment> {
  const out = new Map<string, Comment>();
  for (const m of source.matchAll(/\/\*\*((?:[^*]|\*(?!\/))*)\*\/\s*([A-Z][A-Z0-9_]*)\s*:/g)) {
    const lines = (m[1] ?? "").split("\n").map((l) => l.replace(/^\s*\*?\s?/, "").trimEnd());
    let shownDefault: string | undefined;
    const body: string[] = [];
    for (const line of lines) {
      const tag = /^@default\s+(.*)$/.exec(line.trim());
      if (tag) shownDefault = tag[1];
      else body.push(line);
    }
    const text = body.join(" ").replace(/\s+/g, " ").trim();
    out.set(m[2] as string, shownDefault === undefined ? { text } : { text, shownDefault });
  }
  return out;
}

const commentsOf = (() => {
  const cache = new Map<string, Map<string, Comment>>();
  return (file: string) => {
    let c = cache.get(file);
    if (!c) {
      c = fieldComments(readFileSync(join(ROOT, file), "utf8"));
      cache.set(file, c);
    }
    return c;
  };
})();

const BOOLEAN = ["0", "1", "true", "false", "yes", "no"];

/** The default a field takes when unset (its output value), or undefined when it has none. */
function defaultOf(schema: z.ZodType): { value: unknown } | undefined {
  let s: z.ZodType = schema;
  for (;;) {
    const def = s._zod.def as { type: string; innerType?: z.ZodType; defaultValue?: unknown };
    if (def.type === "default") return { value: def.defaultValue };
    if ((def.type === "optional" || def.type === "nullable") && def.innerType) s = def.innerType;
    // `.default(…).transform(…)`: the default is on the input side.
    else if (def.type === "pipe") s = (s._zod.def as unknown as { in: z.ZodType }).in;
    else return undefined;
  }
}

const UNITS: readonly [suffix: string, base: number, steps: readonly (readonly [number, string])[]][] = [
  [
    "_MS",
    1,
    [
      [86_400_000, "d"],
      [3_600_000, "h"],
      [60_000, "min"],
      [1_000, "s"],
    ],
  ],
  [
    "_SECONDS",
    1_000,
    [
      [86_400_000, "d"],
      [3_600_000, "h"],
      [60_000, "min"],
    ],
  ],
  [
    "_BYTES",
    1,
    [
      [1024 ** 3, "GiB"],
      [1024 ** 2, "MiB"],
      [1024, "KiB"],
    ],
  ],
  ["_KIB", 1024, [[1024 ** 2, "MiB"]]],
];

/** `600000` → `600000` (10 min), by the variable's unit suffix. */
function withUnit(name: string, value: number): string {
  for (const [suffix, base, steps] of UNITS) {
    if (!name.endsWith(suffix) || value === 0) continue;
    const v = value * base;
    for (const [size, unit] of steps) {
      if (v >= size && v % size === 0) return `\`${value}\` (${v / size} ${unit})`;
    }
  }
  return `\`${value}\``;
}

const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");

function valuesOf(schema: z.ZodType): string {
  const json = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as Record<string, unknown>;
  const e = json.enum as string[] | undefined;
  if (e && e.length === BOOLEAN.length && BOOLEAN.every((b) => e.includes(b))) {
    return "boolean: `true`/`false`, `1`/`0`, `yes`/`no`";
  }
  if (e) return e.map((v) => `\`${v}\``).join(" | ");
  const type = json.type as string | undefined;
  if (type === "integer" || type === "number") {
    const low =
      json.minimum !== undefined
        ? `${json.minimum}`
        : json.exclusiveMinimum !== undefined
          ? `> ${json.exclusiveMinimum}`
          : "";
    const high = json.maximum !== undefined && json.maximum !== Number.MAX_SAFE_INTEGER ? `${json.maximum}` : "";
    const range = low.startsWith(">")
      ? `${low}${high ? `, ≤ ${high}` : ""}`
      : high
        ? `${low}–${high}`
        : low && `≥ ${low}`;
    return `${type} ${range}`.trim();
  }
  const parts = ["string"];
  const pattern = json.pattern as string | undefined;
  if (pattern && pattern.length <= 40) parts.push(`matching \`${pattern}\``);
  const min = json.minLength as number | undefined;
  const max = json.maxLength as number | undefined;
  if (max !== undefined) parts.push(`of ${min ?? 0}–${max} characters`);
  return parts.join(" ");
}

interface Row {
  name: string;
  shownDefault: string;
  values: string;
  description: string | undefined;
}

function rowOf(name: string, schema: z.ZodType, comments: readonly Map<string, Comment>[]): Row {
  const comment = comments.map((c) => c.get(name)).find((c) => c !== undefined);
  const d = defaultOf(schema);
  let shown: string;
  if (comment?.shownDefault !== undefined) shown = comment.shownDefault;
  else if (!d) shown = "unset";
  else if (typeof d.value === "number") shown = withUnit(name, d.value);
  else if (Array.isArray(d.value)) shown = d.value.length === 0 ? "none" : `\`${d.value.join(",")}\``;
  else if (d.value === "") shown = "none";
  else shown = `\`${String(d.value)}\``;
  return { name, shownDefault: shown, values: valuesOf(schema), description: comment?.text };
}

const sameRow = (a: Row, b: Row) => a.shownDefault === b.shownDefault && a.values === b.values;

function table(rows: readonly Row[]): string[] {
  return [
    "| Variable | Default | Accepts | What it does |",
    "| --- | --- | --- | --- |",
    ...rows.map(
      (r) => `| \`${r.name}\` | ${cell(r.shownDefault)} | ${cell(r.values)} | ${cell(r.description ?? "")} |`,
    ),
  ];
}

interface Model {
  pieces: { source: Source; usedBy: string[]; rows: Row[] }[];
  services: { source: Source; pieces: string[]; rows: Row[] }[];
}

function model(): Model {
  const usesPiece = (service: Source, piece: Source) => Object.keys(piece.shape).every((k) => k in service.shape);
  const pieces = PIECES.map((piece) => ({
    source: piece,
    usedBy: SERVICES.filter((s) => usesPiece(s, piece)).map((s) => s.title),
    rows: Object.entries(piece.shape).map(([name, schema]) => rowOf(name, schema, [commentsOf(piece.file)])),
  }));
  const services = SERVICES.map((service) => {
    const used = pieces.filter((p) => usesPiece(service, p.source));
    const rows: Row[] = [];
    for (const [name, schema] of Object.entries(service.shape)) {
      const fromPiece = used.find((p) => name in p.source.shape);
      const comments = [commentsOf(service.file), ...(fromPiece ? [commentsOf(fromPiece.source.file)] : [])];
      const row = rowOf(name, schema, comments);
      const pieceRow = fromPiece?.rows.find((r) => r.name === name);
      // A piece's variable is listed again only where the service changes it (MONGO_DB's default).
      if (pieceRow && sameRow(row, pieceRow)) continue;
      rows.push(row);
    }
    return { source: service, pieces: used.map((p) => p.source.title), rows };
  });
  return { pieces, services };
}

/** Variables that have no doc comment, as `service: NAME` (every one must say what it does). */
export function undescribedVariables(): string[] {
  const m = model();
  return [
    ...m.pieces.flatMap((p) => p.rows.filter((r) => !r.description).map((r) => `${p.source.schemaName}: ${r.name}`)),
    ...m.services.flatMap((s) => s.rows.filter((r) => !r.description).map((r) => `${s.source.schemaName}: ${r.name}`)),
  ];
}

const anchorOf = (title: string) =>
  title
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");

export function renderConfiguration(): string {
  const m = model();
  const lines: string[] = [
    "# Configuration",
    "",
    "<!-- Generated by `npm run docs:config` from the services' config schemas; do not edit by hand. -->",
    "",
    "Generated by `npm run docs:config` from the config schemas the services load at start: what a",
    "variable accepts and its default come from the schema, what it does from the doc comment above",
    "its field. To change this page, change the schema or its comment and run `npm run docs:config`",
    "(`scripts/docs/configuration.test.ts` fails while this file is stale, or when a variable has no",
    "comment).",
    "",
    "Every service parses its environment once, at start (`loadConfig` in",
    "`packages/runtime/src/config.ts`). A bad value stops the process with exit code 78 and a message",
    "naming each wrong variable; the values of variables whose name contains SECRET, PASSWORD, TOKEN",
    "or KEY are never echoed. `.env.example` lists what `docker compose` passes; `npm start` and the",
    "test harness set the connection variables themselves ([operations](operations.md)). Durations are",
    "in the unit their name ends with (`_MS`, `_SECONDS`, `_DAYS`).",
    "",
    "Shared pieces (each service's schema extends the runtime's):",
    "",
    ...m.pieces.map((p) => `- [${p.source.title}](#${anchorOf(p.source.title)}): ${p.usedBy.join(", ")}`),
    "",
    `Services: ${m.services.map((s) => `[${s.source.title}](#${anchorOf(s.source.title)})`).join(", ")}.`,
    "",
  ];
  for (const p of m.pieces) {
    lines.push(
      `## ${p.source.title}`,
      "",
      `\`${p.source.schemaName}\` in \`${p.source.file}\`; read by ${p.usedBy.join(", ")}.`,
      "",
      ...table(p.rows),
      "",
    );
  }
  for (const s of m.services) {
    lines.push(
      `## ${s.source.title}`,
      "",
      `\`${s.source.schemaName}\` in \`${s.source.file}\`; also reads ${s.pieces.map((t) => `[${t}](#${anchorOf(t)})`).join(", ")}.`,
      "",
      ...table(s.rows),
      "",
    );
  }
  lines.push(
    "## Read outside these schemas",
    "",
    "- `CONSOLE_DIR` (gateway): where the built web console is (default `packages/console/dist`); see",
    "  [console](console.md).",
    "- `UV_THREADPOOL_SIZE` (auth): libuv's pool, where argon2 hashes run; default the number of CPUs",
    "  (at least 2).",
    "- The launcher's and the test harness's variables (`PORT`, `NATS_PORT`, `TRELLIS_DATA_DIR`,",
    "  `TRELLIS_STACK`, `TRELLIS_*_URL`, `METRICS_BASE_PORT`...): [operations](operations.md) and",
    "  [testing](testing.md).",
    "",
  );
  return lines.join("\n");
}

if (import.meta.main) {
  const missing = undescribedVariables();
  if (missing.length > 0) {
    console.error(`variables without a doc comment in their schema:\n  ${missing.join("\n  ")}`);
    process.exit(1);
  }
  writeFileSync(join(ROOT, CONFIGURATION_MD), renderConfiguration());
  console.log(`wrote ${CONFIGURATION_MD}`);
}
