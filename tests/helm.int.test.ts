/**
 * The Helm chart's rendered manifests (deploy/helm/trellis), with the default values and the
 * production-like file: one Deployment per service with probes on ports it declares, requests and
 * limits, non-root and read-only root filesystem, topology spread; HPAs and PDBs; ServiceMonitors
 * only with the Prometheus operator's API; the NATS chart's 3-node JetStream cluster; and the env
 * each service needs in a cluster, derived from its config schema: every variable whose default
 * points at localhost is set, every variable set exists in the schema, and the values set parse.
 * helm comes from `npm run test:helm` (scripts/install-helm.sh builds it once).
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { SERVICE_NAMES } from "@trellis/contracts";
import { loadConfig } from "@trellis/runtime";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import type { z } from "zod";
import { analysisConfigSchema } from "../services/analysis/src/config.ts";
import { authConfigSchema } from "../services/auth/src/config.ts";
import { gatewayConfigSchema } from "../services/gateway/src/config.ts";
import { mediaConfigSchema } from "../services/media/src/config.ts";
import { telemetryConfigSchema } from "../services/telemetry/src/config.ts";

const root = join(import.meta.dirname, "..");
const chart = join(root, "deploy/helm/trellis");
const helm = join(process.env.TRELLIS_CACHE ?? join(homedir(), ".cache", "trellis"), "bin", "helm");

const schemas: Record<string, z.ZodObject> = {
  gateway: gatewayConfigSchema,
  auth: authConfigSchema,
  telemetry: telemetryConfigSchema,
  media: mediaConfigSchema,
  analysis: analysisConfigSchema,
};

// biome-ignore lint/suspicious/noExplicitAny: rendered Kubernetes objects, asserted field by field
type K8s = any;

function render(...args: string[]): K8s[] {
  if (!existsSync(helm)) throw new Error(`no helm at ${helm}: run \`npm run test:helm\` first (it builds helm)`);
  const out = execFileSync(helm, ["template", "trellis", chart, "--kube-version", "1.31.0", ...args], {
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  return parseAllDocuments(out)
    .map((d) => d.toJS())
    .filter(Boolean);
}

const renders = {
  default: render(),
  production: render("-f", join(chart, "values-production.yaml"), "--api-versions", "monitoring.coreos.com/v1"),
};

const ofKind = (objs: K8s[], kind: string) => objs.filter((o) => o.kind === kind);
const componentOf = (o: K8s): string => o.metadata.labels["app.kubernetes.io/component"];
const deploymentOf = (objs: K8s[], service: string): K8s => {
  const d = ofKind(objs, "Deployment").find((x) => componentOf(x) === service);
  if (!d) throw new Error(`no Deployment for ${service}`);
  return d;
};
const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

/** Values that a Secret would supply, valid for the schemas (the chart cannot know the real ones). */
const SECRET_STAND_INS: Record<string, string> = {
  NATS_PASSWORD: "stand-in",
  MONGO_URL: "mongodb://mongo-0.mongo:27017/?replicaSet=rs0",
  REDIS_URL: "redis://redis:6379",
  REDIS_SENTINEL_PASSWORD: "stand-in",
  NATS_CALLOUT_ISSUER_SEED: `SA${"A".repeat(56)}`,
};

/** Variables whose schema default only works on one machine (127.0.0.1 / localhost): a cluster must set them. */
function clusterRequired(schema: z.ZodObject): string[] {
  const defaults = schema.safeParse({});
  if (!defaults.success) return defaults.error.issues.map((i) => String(i.path[0]));
  return Object.entries(defaults.data as Record<string, unknown>)
    .filter(([, v]) => typeof v === "string" && /127\.0\.0\.1|localhost/.test(v))
    .map(([k]) => k);
}

describe.each(Object.entries(renders))("helm template (%s values)", (which, objs) => {
  it("renders a Deployment, a metrics Service and a PDB per service; HPAs for the gateway, telemetry and analysis", () => {
    expect(ofKind(objs, "Deployment").map(componentOf).sort()).toEqual([...SERVICE_NAMES].sort());
    const hpas = ofKind(objs, "HorizontalPodAutoscaler");
    expect(hpas.map(componentOf).sort()).toEqual(["analysis", "gateway", "telemetry"]);
    for (const hpa of hpas) {
      const d = deploymentOf(objs, componentOf(hpa));
      expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: "apps/v1", kind: "Deployment", name: d.metadata.name });
      expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
      expect(hpa.spec.maxReplicas).toBeGreaterThan(hpa.spec.minReplicas);
      // The HPA owns the replica count: a fixed one would fight it on every upgrade.
      expect(d.spec.replicas).toBeUndefined();
    }
    for (const service of ["auth", "media"]) {
      expect(deploymentOf(objs, service).spec.replicas).toBeGreaterThanOrEqual(2);
    }
    if (which === "default") expect(deploymentOf(objs, "auth").spec.replicas).toBe(2);
    const pdbs = ofKind(objs, "PodDisruptionBudget");
    for (const service of SERVICE_NAMES) {
      const d = deploymentOf(objs, service);
      const pdb = pdbs.filter((p) => matches(p.spec.selector.matchLabels, d.spec.template.metadata.labels));
      expect(pdb, service).toHaveLength(1);
      expect(pdb[0].spec.minAvailable).toBeGreaterThanOrEqual(1);
      const metrics = ofKind(objs, "Service").filter(
        (s) =>
          s.metadata.labels["trellis.dev/metrics"] === "true" &&
          matches(s.spec.selector, d.spec.template.metadata.labels),
      );
      expect(metrics, service).toHaveLength(1);
      expect(metrics[0].spec.ports).toEqual([{ name: "metrics", port: 9464, targetPort: "metrics" }]);
    }
    const gateway = ofKind(objs, "Service").find((s) => s.spec.ports.some((p: K8s) => p.name === "http"));
    expect(gateway.spec.ports[0]).toMatchObject({ port: 80, targetPort: "http" });
  });

  it("every container has probes on ports it declares, requests and limits, and runs non-root on a read-only root", () => {
    for (const service of SERVICE_NAMES) {
      const pod = deploymentOf(objs, service).spec.template.spec;
      expect(pod.securityContext.runAsNonRoot, service).toBe(true);
      expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
      expect(pod.automountServiceAccountToken).toBe(false);
      expect(pod.containers).toHaveLength(1);
      const c = pod.containers[0];
      expect(c.securityContext).toMatchObject({
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ["ALL"] },
      });
      const ports = new Set(c.ports.map((p: K8s) => p.name));
      expect(ports.has("metrics")).toBe(true);
      expect(ports.has("http")).toBe(service === "gateway");
      for (const probe of ["startupProbe", "livenessProbe", "readinessProbe"]) {
        expect(c[probe]?.httpGet, `${service} ${probe}`).toBeDefined();
        expect(ports.has(c[probe].httpGet.port), `${service} ${probe} port`).toBe(true);
      }
      expect(c.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "metrics" });
      expect(c.livenessProbe.httpGet.path).toBe("/healthz");
      for (const kind of ["requests", "limits"]) {
        expect(c.resources[kind]?.cpu, `${service} ${kind}.cpu`).toBeDefined();
        expect(c.resources[kind]?.memory, `${service} ${kind}.memory`).toBeDefined();
      }
      // Temporary files go to an emptyDir: the root filesystem is read-only.
      const tmp = c.volumeMounts.find((m: K8s) => m.mountPath === "/tmp");
      expect(pod.volumes.find((v: K8s) => v.name === tmp?.name)?.emptyDir?.sizeLimit, service).toBeDefined();
      const keys = pod.topologySpreadConstraints.map((t: K8s) => t.topologyKey);
      expect(keys).toEqual(["topology.kubernetes.io/zone", "kubernetes.io/hostname"]);
      for (const t of pod.topologySpreadConstraints) {
        expect(matches(t.labelSelector.matchLabels, deploymentOf(objs, service).spec.template.metadata.labels)).toBe(
          true,
        );
      }
    }
  });

  it("sets every variable a service needs in a cluster (from its config schema), only variables it reads, with valid values", () => {
    for (const service of SERVICE_NAMES) {
      const schema = schemas[service] as z.ZodObject;
      const c = deploymentOf(objs, service).spec.template.spec.containers[0];
      const env = new Map<string, K8s>(c.env.map((e: K8s) => [e.name, e]));
      const required = [
        ...clusterRequired(schema),
        "METRICS_PORT",
        "METRICS_HOST",
        "NATS_USER",
        "NATS_PASSWORD",
        "JETSTREAM_REPLICAS",
      ];
      expect(required).toContain("NATS_URL");
      for (const name of required) expect(env.has(name), `${service} sets ${name}`).toBe(true);
      if ("MONGO_URL" in schema.shape) expect(required).toContain("MONGO_URL");
      if (service === "auth") expect(env.has("NATS_CALLOUT_ISSUER_SEED")).toBe(true);
      for (const name of env.keys()) expect(Object.keys(schema.shape), `${service} reads ${name}`).toContain(name);
      // Secrets come from existing Secrets, never from the chart.
      for (const name of ["NATS_PASSWORD", "MONGO_URL", "REDIS_URL", "NATS_CALLOUT_ISSUER_SEED"]) {
        if (env.has(name)) expect(env.get(name).valueFrom?.secretKeyRef?.name, `${service} ${name}`).toBeTruthy();
      }
      // What the pod would see, with stand-ins for the Secrets' values, parses as the service's config.
      const seen: Record<string, string> = {};
      for (const [name, e] of env) {
        if (e.value !== undefined) seen[name] = e.value;
        else if (e.valueFrom?.fieldRef) seen[name] = `${service}-pod`;
        else if (e.valueFrom?.secretKeyRef && !e.valueFrom.secretKeyRef.optional) {
          seen[name] = SECRET_STAND_INS[name] ?? "stand-in";
        }
      }
      const config = loadConfig(schema, seen) as Record<string, unknown>;
      expect(config.METRICS_HOST).toBe("0.0.0.0");
      // Streams as replicated as the NATS cluster is big.
      expect(config.JETSTREAM_REPLICAS).toBe(3);
      if (service === "gateway") {
        expect(config.HOST).toBe("0.0.0.0");
        expect(config.PORT).not.toBe(config.METRICS_PORT);
      }
    }
  });

  it("runs NATS from the official chart: 3 JetStream servers with file storage and a PDB", () => {
    const [nats] = ofKind(objs, "StatefulSet");
    expect(nats.metadata.labels["app.kubernetes.io/name"]).toBe("nats");
    expect(nats.spec.replicas).toBe(3);
    expect(nats.spec.volumeClaimTemplates.map((v: K8s) => v.metadata.name)).toEqual([expect.stringMatching(/js/)]);
    const pdb = ofKind(objs, "PodDisruptionBudget").find((p) =>
      matches(p.spec.selector.matchLabels, nats.spec.template.metadata.labels),
    );
    expect(pdb).toBeDefined();
    const conf = ofKind(objs, "ConfigMap").find((m) => m.data?.["nats.conf"])?.data["nats.conf"] as string;
    expect(conf).toMatch(/"auth_callout"/);
    expect(conf).toMatch(/"routes"/);
    // The services' NATS_URL names the chart's client Service.
    const url = deploymentOf(objs, "telemetry").spec.template.spec.containers[0].env.find(
      (e: K8s) => e.name === "NATS_URL",
    ).value;
    const host = new URL(url).hostname;
    expect(ofKind(objs, "Service").some((s) => s.metadata.name === host)).toBe(true);
  });

  it(`creates ServiceMonitors only when the Prometheus operator's API is there (${which})`, () => {
    const monitors = ofKind(objs, "ServiceMonitor");
    if (which === "default") {
      expect(monitors).toEqual([]);
      return;
    }
    expect(monitors.map(componentOf).sort()).toEqual([...SERVICE_NAMES].sort());
    for (const m of monitors) {
      const selected = ofKind(objs, "Service").filter((s) => matches(m.spec.selector.matchLabels, s.metadata.labels));
      expect(selected.map((s) => s.metadata.labels["trellis.dev/metrics"])).toEqual(["true"]);
      expect(m.spec.endpoints[0]).toMatchObject({ port: "metrics", path: "/metrics", honorLabels: true });
      expect(m.spec.endpoints[0].relabelings).toEqual([
        { targetLabel: "trellis_service", replacement: componentOf(m) },
      ]);
      expect(m.metadata.labels.release).toBe("kube-prometheus-stack");
    }
  });
});

describe("production values", () => {
  it("reach Redis through Sentinel and pull from the given registry", () => {
    for (const service of ["auth", "analysis"]) {
      const c = deploymentOf(renders.production, service).spec.template.spec.containers[0];
      const env = new Map<string, K8s>(c.env.map((e: K8s) => [e.name, e]));
      expect(env.get("REDIS_SENTINELS")?.value).toMatch(/^redis-sentinel-0\.redis-sentinel:26379,/);
      expect(env.get("REDIS_SENTINEL_MASTER")?.value).toBe("trellis");
      expect(env.get("REDIS_SENTINEL_PASSWORD")?.valueFrom.secretKeyRef).toEqual({
        name: "trellis-redis",
        key: "sentinel-password",
      });
      expect(c.image).toBe(`registry.example.com/hydro/trellis-${service}:0.1.0`);
    }
    for (const service of ["auth", "analysis"]) {
      const env = deploymentOf(renders.default, service).spec.template.spec.containers[0].env.map((e: K8s) => e.name);
      expect(env).not.toContain("REDIS_SENTINELS");
    }
  });
});
