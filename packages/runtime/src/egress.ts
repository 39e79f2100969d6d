import type { LookupAddress, LookupOneOptions } from "node:dns";
import { Resolver, lookup as systemLookup } from "node:dns/promises";
import { type AgentOptions, type ClientRequestArgs, Agent as HttpAgent, request as httpRequest } from "node:http";
import { Agent as HttpsAgent, type AgentOptions as HttpsAgentOptions, request as httpsRequest } from "node:https";
import { isIP, type LookupFunction } from "node:net";
import type { Duplex } from "node:stream";
import { TrellisError } from "@trellis/contracts";
import ipaddr from "ipaddr.js";
import { z } from "zod";
import { env } from "./config.ts";

/**
 * The egress policy: every outbound connection the platform makes on a user's behalf (the pages,
 * captions and media of URL analyses, alarm webhooks) goes only to public unicast addresses. The
 * name is resolved, every address it resolves to is checked, and the connection is made to the
 * checked addresses (never resolved again, so a name cannot answer "public" to the check and
 * "private" to the connection). Address ranges come from `ipaddr.js` (`range()`), not from a list
 * written here.
 */

/** Egress settings, shared by every service that connects somewhere for a user. */
export const egressConfigSchema = z.object({
  /**
   * Lets user-given URLs reach loopback, private, link-local and other non-public addresses. Off
   * by default; for tests and local demos whose origins run on this machine.
   */
  ALLOW_PRIVATE_EGRESS: env.bool().default(false),
  /**
   * `address:port` pairs allowed although not public (comma-separated; IPv6 as `[::1]:8080`): a
   * test's origin server, an on-premises receiver. Only that exact address and port.
   */
  EGRESS_ALLOW_HOSTS: z
    .string()
    .default("")
    .transform((v, ctx) => {
      const out: string[] = [];
      for (const part of v
        .split(",")
        .map((p) => p.trim())
        .filter(Boolean)) {
        const key = allowKey(part);
        if (!key) {
          ctx.addIssue({
            code: "custom",
            message: `"${part}" is not an IP address and port (127.0.0.1:8080, [::1]:8080)`,
          });
          return z.NEVER;
        }
        out.push(key);
      }
      return out;
    }),
  /**
   * DNS servers (`ip` or `ip:port`, comma-separated) that resolve user-given names instead of the
   * system's resolver (tests use a local one).
   */
  EGRESS_DNS_SERVERS: z
    .string()
    .default("")
    .transform((v, ctx) => {
      const out = v
        .split(",")
        .map((p) => p.trim())
        .filter(Boolean);
      for (const s of out) {
        if (!isIP(s) && !allowKey(s)) {
          ctx.addIssue({ code: "custom", message: `"${s}" is not an IP address with an optional port` });
          return z.NEVER;
        }
      }
      return out;
    }),
});
export type EgressConfig = z.output<typeof egressConfigSchema>;

/** `address:port` in one normal form (IPv6 compressed, in brackets), or null. */
function allowKey(hostPort: string): string | null {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(hostPort.trim());
  const host = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  if (!host || !ipaddr.isValid(host) || isIP(host) === 0 || port < 1 || port > 65_535) return null;
  return keyOf(host, port);
}

const keyOf = (address: string, port: number) => {
  const ip = ipaddr.parse(address);
  return ip.kind() === "ipv6" ? `[${ip.toString()}]:${port}` : `${ip.toString()}:${port}`;
};

/** What `classifyAddress` says of one address. */
export interface AddressClass {
  /** A public unicast address: allowed by default. */
  public: boolean;
  /** The range it falls in, as `ipaddr.js` names it (`unicast`, `loopback`, `private`, …). */
  range: string;
  /** For an IPv6 form that embeds an IPv4 address (mapped, NAT64, 6to4, compatible): that address. */
  embedded?: string;
}

/** Words for a range in a message. */
const RANGE_WORDS: Record<string, string> = {
  unspecified: "unspecified",
  broadcast: "broadcast",
  multicast: "multicast",
  linkLocal: "link-local",
  loopback: "loopback",
  carrierGradeNat: "carrier-grade NAT",
  private: "private",
  reserved: "reserved (documentation, benchmarking or future use)",
  benchmarking: "benchmarking",
  uniqueLocal: "unique-local",
  deprecatedSiteLocal: "site-local",
  teredo: "Teredo",
  discard: "discard-only",
  amt: "AMT",
  as112: "AS112",
  as112v6: "AS112",
  deprecatedOrchid: "ORCHID",
  orchid2: "ORCHID",
  droneRemoteIdProtocolEntityTags: "reserved",
  ipv4Compatible: "IPv4-compatible",
  rfc6052: "NAT64",
};

/**
 * Whether an IP address is public unicast, by `ipaddr.js`'s ranges. IPv6 forms that carry an IPv4
 * address (IPv4-mapped `::ffff:a.b.c.d`, SIIT `::ffff:0:a.b.c.d`, the well-known NAT64 prefix
 * `64:ff9b::/96`, 6to4 `2002:AABB:CCDD::/48`) are judged by that IPv4 address; the deprecated
 * IPv4-compatible form (`::a.b.c.d`) and Teredo are never public.
 */
export function classifyAddress(address: string): AddressClass {
  let bare = address.replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  // The URL parser writes IPv6 in one canonical form (ipaddr.js reads "::a.b.c.d" as IPv4-mapped).
  if (bare.includes(":")) bare = new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  const ip = ipaddr.parse(bare);
  if (ip.kind() === "ipv4") {
    const range = ip.range();
    return { public: range === "unicast", range };
  }
  const v6 = ip as ipaddr.IPv6;
  const range = v6.range();
  const p = v6.parts;
  const v4At = (hi: number, lo: number) => new ipaddr.IPv4([hi >> 8, hi & 255, lo >> 8, lo & 255]);
  let embedded: ipaddr.IPv4 | undefined;
  if (range === "ipv4Mapped" || range === "rfc6145") embedded = v4At(p[6] ?? 0, p[7] ?? 0);
  // 64:ff9b::/96 carries the IPv4 address in its last 32 bits; 64:ff9b:1::/48 is for local use.
  else if (range === "rfc6052" && p[2] === 0) embedded = v4At(p[6] ?? 0, p[7] ?? 0);
  else if (range === "6to4") embedded = v4At(p[1] ?? 0, p[2] ?? 0);
  else if (range === "unicast" && p.slice(0, 6).every((x) => x === 0)) {
    return { public: false, range: "ipv4Compatible", embedded: v4At(p[6] ?? 0, p[7] ?? 0).toString() };
  }
  if (embedded) {
    const inner = embedded.range();
    return { public: inner === "unicast", range: inner === "unicast" ? range : inner, embedded: embedded.toString() };
  }
  return { public: range === "unicast", range };
}

/** A connection the egress policy refuses: `forbidden`, never retried. */
export class EgressRefusedError extends TrellisError {
  readonly address: string;
  constructor(message: string, address: string) {
    super("forbidden", message);
    this.address = address;
  }
}

/** Options of an `EgressPolicy` (from `EgressConfig`). */
export interface EgressPolicyOptions {
  allowPrivate?: boolean;
  /** `address:port` pairs allowed although not public (normal form from `egressConfigSchema`). */
  allowHosts?: readonly string[];
  /** DNS servers resolving names instead of the system's resolver. */
  dnsServers?: readonly string[];
  /** Longest a name's resolution may take. */
  resolveTimeoutMs?: number;
}

/** The policy a service's config describes. */
export const egressPolicyOf = (c: EgressConfig): EgressPolicy =>
  new EgressPolicy({
    allowPrivate: c.ALLOW_PRIVATE_EGRESS,
    allowHosts: c.EGRESS_ALLOW_HOSTS,
    dnsServers: c.EGRESS_DNS_SERVERS,
  });

/** A name that does not resolve (no such host, or no address): not a policy refusal. */
export class EgressResolveError extends TrellisError {
  constructor(host: string, cause: unknown) {
    const code = (cause as { code?: string }).code;
    const gone = code === "ENOTFOUND" || code === "ENODATA";
    super(gone ? "not_found" : "unavailable", `cannot resolve ${host}: ${code ?? (cause as Error).message}`, {
      cause,
    });
  }
}

export class EgressPolicy {
  readonly allowPrivate: boolean;
  private readonly allowHosts: ReadonlySet<string>;
  private readonly resolver: Resolver | null;
  private readonly timeoutMs: number;

  constructor(opts: EgressPolicyOptions = {}) {
    this.allowPrivate = opts.allowPrivate ?? false;
    this.allowHosts = new Set(opts.allowHosts ?? []);
    this.timeoutMs = opts.resolveTimeoutMs ?? 10_000;
    if (opts.dnsServers?.length) {
      this.resolver = new Resolver({ timeout: Math.min(this.timeoutMs, 5_000), tries: 2 });
      this.resolver.setServers([...opts.dnsServers]);
    } else {
      this.resolver = null;
    }
  }

  /**
   * Why a connection to `address:port` is refused (the message names `host` and the address), or
   * null when it is allowed.
   */
  refusal(host: string, address: string, port: number): EgressRefusedError | null {
    if (this.allowPrivate) return null;
    const c = classifyAddress(address);
    if (c.public || this.allowHosts.has(keyOf(address, port))) return null;
    const words = RANGE_WORDS[c.range] ?? c.range;
    const what = c.embedded ? `an IPv6 address embedding the ${words} address ${c.embedded}` : `a ${words} address`;
    const bare = host.replace(/^\[|\]$/g, "");
    const shown = isIP(bare) ? bare : `${bare} (${address})`;
    return new EgressRefusedError(
      `${isIP(bare) ? "" : "the name "}${shown} ${isIP(bare) ? "is" : "resolves to"} ${what}, which is not allowed (only public addresses may be reached)`,
      address,
    );
  }

  /**
   * Resolves `host` and checks every address it resolves to: the addresses, all allowed, or an
   * `EgressRefusedError` (one forbidden address refuses the name), or an `EgressResolveError`.
   */
  async resolve(host: string, port: number): Promise<LookupAddress[]> {
    const bare = host.replace(/^\[|\]$/g, "");
    let addresses: LookupAddress[];
    const family = isIP(bare);
    if (family) addresses = [{ address: bare, family }];
    // RFC 6761: localhost and its subdomains are loopback, whatever a DNS server says.
    else if (/(^|\.)localhost\.?$/i.test(bare)) {
      addresses = [
        { address: "127.0.0.1", family: 4 },
        { address: "::1", family: 6 },
      ];
    } else {
      try {
        addresses = await this.lookup(bare);
      } catch (err) {
        throw new EgressResolveError(bare, err);
      }
      if (addresses.length === 0)
        throw new EgressResolveError(bare, Object.assign(new Error("no address"), { code: "ENODATA" }));
    }
    for (const a of addresses) {
      const refused = this.refusal(host, a.address, port);
      if (refused) throw refused;
    }
    return addresses;
  }

  /** Checks a URL's host (http or https only): the checked addresses, or the refusal. */
  async checkUrl(url: string | URL): Promise<LookupAddress[]> {
    const u = typeof url === "string" ? new URL(url) : url;
    if (u.protocol !== "http:" && u.protocol !== "https:") {
      throw new EgressRefusedError(`only http and https URLs may be fetched, not ${u.protocol}`, "");
    }
    return this.resolve(u.hostname, portOf(u));
  }

  private async lookup(name: string): Promise<LookupAddress[]> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const work = (async (): Promise<LookupAddress[]> => {
      if (!this.resolver) return systemLookup(name, { all: true, order: "verbatim" });
      const [v4, v6] = await Promise.allSettled([this.resolver.resolve4(name), this.resolver.resolve6(name)]);
      const out = [
        ...(v4.status === "fulfilled" ? v4.value.map((address) => ({ address, family: 4 })) : []),
        ...(v6.status === "fulfilled" ? v6.value.map((address) => ({ address, family: 6 })) : []),
      ];
      if (out.length === 0 && v4.status === "rejected") throw v4.reason;
      return out;
    })();
    return Promise.race([
      work,
      new Promise<never>((_, reject) =>
        timeout.addEventListener("abort", () => reject(Object.assign(new Error("timed out"), { code: "ETIMEOUT" }))),
      ),
    ]);
  }

  /** An http or https agent whose every connection goes through this policy (see `EgressAgent`). */
  agent(protocol: "http:" | "https:", options: AgentOptions & HttpsAgentOptions = {}): HttpAgent {
    return protocol === "https:" ? new EgressHttpsAgent(this, options) : new EgressHttpAgent(this, options);
  }
}

/** A URL's port, the scheme's default when none is written. */
export const portOf = (u: URL): number => (u.port ? Number(u.port) : u.protocol === "https:" ? 443 : 80);

/** A `lookup` for `net.connect` that answers only with addresses already checked. */
export function pinnedLookup(addresses: readonly LookupAddress[]): LookupFunction {
  return ((_host: string, options: LookupOneOptions & { all?: boolean }, cb: (...args: unknown[]) => void) => {
    const usable = options.family ? addresses.filter((a) => a.family === options.family) : addresses;
    const list = usable.length ? usable : addresses;
    if (options.all) cb(null, list);
    else cb(null, list[0]?.address, list[0]?.family);
  }) as LookupFunction;
}

/**
 * The connection step of the egress agents: resolve and check the host (with the port, for the
 * allowed `address:port` pairs), then connect with a lookup pinned to the checked addresses.
 */
function connectThrough(
  policy: EgressPolicy,
  options: ClientRequestArgs,
  callback: ((err: Error | null, stream: Duplex) => void) | undefined,
  connect: (options: ClientRequestArgs) => Duplex | null | undefined,
): undefined {
  const host = options.host ?? options.hostname ?? "localhost";
  const port = Number(options.port) || (options.protocol === "https:" ? 443 : 80);
  policy.resolve(host, port).then(
    (addresses) => {
      let socket: Duplex | null | undefined;
      try {
        socket = connect({ ...options, lookup: pinnedLookup(addresses) });
      } catch (err) {
        callback?.(err as Error, undefined as unknown as Duplex);
        return;
      }
      if (socket) callback?.(null, socket);
    },
    (err: Error) => callback?.(err, undefined as unknown as Duplex),
  );
  return undefined;
}

/** `http.Agent` applying the egress policy to each connection it opens (no DNS rebinding). */
export class EgressHttpAgent extends HttpAgent {
  private readonly policy: EgressPolicy;
  constructor(policy: EgressPolicy, options: AgentOptions = {}) {
    super(options);
    this.policy = policy;
  }
  override createConnection(
    options: ClientRequestArgs,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    return connectThrough(this.policy, options, callback, (o) => super.createConnection(o));
  }
}

/** `https.Agent` applying the egress policy to each connection it opens (no DNS rebinding). */
export class EgressHttpsAgent extends HttpsAgent {
  private readonly policy: EgressPolicy;
  constructor(policy: EgressPolicy, options: HttpsAgentOptions = {}) {
    super(options);
    this.policy = policy;
  }
  override createConnection(
    options: ClientRequestArgs,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    return connectThrough(this.policy, options, callback, (o) => super.createConnection(o));
  }
}

/** What `egressRequest` answers: the status and headers (the body is read and discarded, up to a bound). */
export interface EgressResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
}

/**
 * One HTTP(S) request through the egress policy (a fresh pinning agent; redirects are not
 * followed: a 3xx is answered as it is). Refusals reject with `EgressRefusedError` before any
 * connection is made.
 */
export async function egressRequest(
  policy: EgressPolicy,
  url: string,
  init: { method: string; headers?: Record<string, string>; body?: string | Buffer; signal?: AbortSignal },
): Promise<EgressResponse> {
  const u = new URL(url);
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new EgressRefusedError(`only http and https URLs may be fetched, not ${u.protocol}`, "");
  }
  const agent = policy.agent(u.protocol);
  const send = u.protocol === "https:" ? httpsRequest : httpRequest;
  try {
    return await new Promise<EgressResponse>((resolve, reject) => {
      const req = send(u, { method: init.method, headers: init.headers, agent, signal: init.signal }, (res) => {
        res.resume();
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(init.body);
    });
  } finally {
    agent.destroy();
  }
}
