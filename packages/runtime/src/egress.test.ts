import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { startDnsServer, type TestDnsServer } from "@trellis/stack/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  classifyAddress,
  EgressPolicy,
  EgressRefusedError,
  EgressResolveError,
  egressConfigSchema,
  egressPolicyOf,
  egressRequest,
} from "./egress.ts";

describe("classifyAddress", () => {
  it.each([
    ["127.0.0.1", "loopback"],
    ["127.255.255.254", "loopback"],
    ["10.0.0.1", "private"],
    ["10.255.255.255", "private"],
    ["172.16.0.1", "private"],
    ["172.31.255.255", "private"],
    ["192.168.1.1", "private"],
    ["169.254.169.254", "linkLocal"],
    ["169.254.0.1", "linkLocal"],
    ["100.64.0.1", "carrierGradeNat"],
    ["100.127.255.255", "carrierGradeNat"],
    ["0.0.0.0", "unspecified"],
    ["0.1.2.3", "unspecified"],
    ["255.255.255.255", "broadcast"],
    ["224.0.0.1", "multicast"],
    ["239.255.255.250", "multicast"],
    ["192.0.2.1", "reserved"],
    ["198.51.100.7", "reserved"],
    ["203.0.113.9", "reserved"],
    ["198.18.0.1", "reserved"],
    ["240.0.0.1", "reserved"],
    ["192.0.0.8", "reserved"],
    ["::1", "loopback"],
    ["::", "unspecified"],
    ["fc00::1", "uniqueLocal"],
    ["fd12:3456::1", "uniqueLocal"],
    ["fe80::1", "linkLocal"],
    ["fe80::1%eth0", "linkLocal"],
    ["ff02::1", "multicast"],
    ["2001:db8::1", "reserved"],
    ["2001::1", "teredo"],
    ["fec0::1", "deprecatedSiteLocal"],
    ["100::1", "discard"],
  ])("%s is not public (%s)", (address, range) => {
    expect(classifyAddress(address)).toMatchObject({ public: false, range });
  });

  it.each([
    ["::ffff:127.0.0.1", "loopback", "127.0.0.1"],
    ["::ffff:7f00:1", "loopback", "127.0.0.1"],
    ["[::ffff:127.0.0.1]", "loopback", "127.0.0.1"],
    ["::ffff:10.1.2.3", "private", "10.1.2.3"],
    ["::ffff:169.254.169.254", "linkLocal", "169.254.169.254"],
    ["::ffff:0:127.0.0.1", "loopback", "127.0.0.1"],
    ["64:ff9b::10.0.0.1", "private", "10.0.0.1"],
    ["64:ff9b::7f00:1", "loopback", "127.0.0.1"],
    ["2002:7f00:1::1", "loopback", "127.0.0.1"],
    ["2002:c0a8:101::", "private", "192.168.1.1"],
    ["::127.0.0.1", "ipv4Compatible", "127.0.0.1"],
    ["::8.8.8.8", "ipv4Compatible", "8.8.8.8"],
  ])("%s embeds a non-public IPv4 address (%s, %s)", (address, range, embedded) => {
    expect(classifyAddress(address)).toEqual({ public: false, range, embedded });
  });

  it("64:ff9b:1::/48 (local-use NAT64) is not public", () => {
    expect(classifyAddress("64:ff9b:1::a00:1").public).toBe(false);
  });

  it.each([
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "100.63.255.255",
    "100.128.0.0",
    "172.15.255.255",
    "172.32.0.1",
    "169.253.0.1",
    "2606:4700:4700::1111",
    "2a00:1450:4001:80b::200e",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::1",
  ])("%s is public", (address) => {
    expect(classifyAddress(address).public).toBe(true);
  });
});

describe("egressConfigSchema", () => {
  it("defaults to no private egress, no allowed pairs, the system resolver", () => {
    expect(egressConfigSchema.parse({})).toEqual({
      ALLOW_PRIVATE_EGRESS: false,
      EGRESS_ALLOW_HOSTS: [],
      EGRESS_DNS_SERVERS: [],
    });
  });
  it("reads allowed address:port pairs in a normal form", () => {
    expect(
      egressConfigSchema.parse({ ALLOW_PRIVATE_EGRESS: "true", EGRESS_ALLOW_HOSTS: "127.0.0.1:8080, [::1]:9000" }),
    ).toMatchObject({ ALLOW_PRIVATE_EGRESS: true, EGRESS_ALLOW_HOSTS: ["127.0.0.1:8080", "[::1]:9000"] });
  });
  it.each(["localhost:8080", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", "::1:80"])(
    "refuses EGRESS_ALLOW_HOSTS=%s",
    (v) => {
      expect(egressConfigSchema.safeParse({ EGRESS_ALLOW_HOSTS: v }).success).toBe(false);
    },
  );
  it("reads DNS servers with or without a port and refuses names", () => {
    expect(egressConfigSchema.parse({ EGRESS_DNS_SERVERS: "127.0.0.1:5353,::1" }).EGRESS_DNS_SERVERS).toEqual([
      "127.0.0.1:5353",
      "::1",
    ]);
    expect(egressConfigSchema.safeParse({ EGRESS_DNS_SERVERS: "dns.example" }).success).toBe(false);
    expect(egressConfigSchema.safeParse({ ALLOW_PRIVATE_EGRESS: "maybe" }).success).toBe(false);
  });
});

describe("EgressPolicy", () => {
  let dns: TestDnsServer;
  let origin: Server;
  let port: number;
  let hits = 0;

  beforeAll(async () => {
    dns = await startDnsServer({
      "private.test": ["10.0.0.7"],
      "metadata.test": ["169.254.169.254"],
      "mixed.test": ["8.8.8.8", "192.168.0.10"],
      "mapped.test": ["::ffff:7f00:1"],
      "public.test": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"],
      "origin.test": ["127.0.0.1"],
    });
    origin = createServer((_req, res) => {
      hits++;
      res.end("ok");
    });
    await new Promise<void>((r) => origin.listen(0, "127.0.0.1", r));
    port = (origin.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await dns?.close();
    await new Promise((r) => origin?.close(r));
  });

  const policy = (over: Partial<Parameters<typeof egressConfigSchema.parse>[0]> = {}) =>
    egressPolicyOf(egressConfigSchema.parse({ EGRESS_DNS_SERVERS: dns.server, ...over }));

  const refusalOf = async (p: Promise<unknown>) => {
    const err = await p.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(EgressRefusedError);
    expect((err as EgressRefusedError).code).toBe("forbidden");
    return (err as EgressRefusedError).message;
  };

  it("refuses literal non-public hosts with a clear reason", async () => {
    const p = policy();
    expect(await refusalOf(p.checkUrl("http://127.0.0.1:8080/x"))).toBe(
      "127.0.0.1 is a loopback address, which is not allowed (only public addresses may be reached)",
    );
    expect(await refusalOf(p.checkUrl("http://[::ffff:127.0.0.1]/"))).toMatch(
      /^::ffff:7f00:1 is an IPv6 address embedding the loopback address 127\.0\.0\.1/,
    );
    expect(await refusalOf(p.checkUrl("http://169.254.169.254/latest/meta-data/"))).toMatch(/link-local/);
    // WHATWG URL forms of 127.0.0.1 (hex, a single number) are the same address.
    expect(await refusalOf(p.checkUrl("http://0x7f.1/"))).toMatch(/^127\.0\.0\.1 is a loopback/);
    expect(await refusalOf(p.checkUrl("http://2130706433/"))).toMatch(/^127\.0\.0\.1 is a loopback/);
    expect(await refusalOf(p.checkUrl("http://[::]/"))).toMatch(/unspecified/);
    expect(await refusalOf(p.checkUrl("ftp://example.com/"))).toMatch(/only http and https/);
    // RFC 6761: localhost names are loopback without asking DNS.
    expect(await refusalOf(p.checkUrl("http://localhost:8080/"))).toMatch(/^the name localhost \(127\.0\.0\.1\)/);
    expect(await refusalOf(p.checkUrl("http://app.LOCALHOST./"))).toMatch(/loopback/);
  });

  it("resolves names through the configured DNS server and checks every address", async () => {
    const p = policy();
    expect(await refusalOf(p.checkUrl("https://private.test/video"))).toBe(
      "the name private.test (10.0.0.7) resolves to a private address, which is not allowed (only public addresses may be reached)",
    );
    expect(await refusalOf(p.checkUrl("http://metadata.test/"))).toMatch(/169\.254\.169\.254.*link-local/);
    // One private address among public ones refuses the name.
    expect(await refusalOf(p.checkUrl("http://mixed.test/"))).toMatch(/192\.168\.0\.10/);
    expect(await refusalOf(p.checkUrl("http://mapped.test/"))).toMatch(/embedding the loopback address 127\.0\.0\.1/);
    const ok = await p.checkUrl("https://public.test/");
    expect(ok.map((a) => a.address).sort()).toEqual(["2606:2800:220:1:248:1893:25c8:1946", "93.184.216.34"]);
    const missing = await p.checkUrl("http://nothing.test/").catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(EgressResolveError);
    expect((missing as EgressResolveError).code).toBe("not_found");
  });

  it("allows exactly the listed address:port pairs, and everything with ALLOW_PRIVATE_EGRESS", async () => {
    const p = policy({ EGRESS_ALLOW_HOSTS: `127.0.0.1:${port}` });
    await expect(p.checkUrl(`http://127.0.0.1:${port}/`)).resolves.toEqual([{ address: "127.0.0.1", family: 4 }]);
    await expect(p.checkUrl(`http://origin.test:${port}/`)).resolves.toHaveLength(1);
    await refusalOf(p.checkUrl(`http://127.0.0.1:${port + 1}/`));
    await refusalOf(p.checkUrl(`http://[::ffff:127.0.0.1]:${port}/`));
    await refusalOf(p.checkUrl(`http://127.0.0.2:${port}/`));
    const open = policy({ ALLOW_PRIVATE_EGRESS: "true" });
    await expect(open.checkUrl("http://private.test/")).resolves.toEqual([{ address: "10.0.0.7", family: 4 }]);
    await expect(open.checkUrl("http://[::1]:1/")).resolves.toHaveLength(1);
  });

  it("egressRequest refuses before connecting: the local server gets nothing", async () => {
    const p = policy();
    hits = 0;
    await refusalOf(egressRequest(p, `http://127.0.0.1:${port}/hook`, { method: "POST", body: "{}" }));
    await refusalOf(egressRequest(p, `http://[::ffff:127.0.0.1]:${port}/hook`, { method: "POST", body: "{}" }));
    // The system resolver (no EGRESS_DNS_SERVERS): localhost is loopback.
    expect(
      await refusalOf(egressRequest(new EgressPolicy(), `http://localhost:${port}/hook`, { method: "POST" })),
    ).toMatch(/^the name localhost \((127\.0\.0\.1|::1)\) resolves to a loopback address/);
    await refusalOf(egressRequest(p, `http://private.test:${port}/hook`, { method: "POST", body: "{}" }));
    expect(hits).toBe(0);
  });

  it("egressRequest pins the checked address: a name rebound to 10.x after the check is refused at connect", async () => {
    const p = policy({ EGRESS_ALLOW_HOSTS: `127.0.0.1:${port}` });
    dns.set("rebind.test", ["127.0.0.1"]);
    hits = 0;
    await expect(
      egressRequest(p, `http://rebind.test:${port}/hook`, { method: "POST", body: "{}" }),
    ).resolves.toMatchObject({
      status: 200,
    });
    expect(hits).toBe(1);
    dns.set("rebind.test", ["10.9.9.9"]);
    const msg = await refusalOf(egressRequest(p, `http://rebind.test:${port}/hook`, { method: "POST", body: "{}" }));
    expect(msg).toMatch(/10\.9\.9\.9/);
    expect(hits).toBe(1);
  });

  it("the agent checks each connection it opens", async () => {
    const p = new EgressPolicy({ dnsServers: [dns.server] });
    const agent = p.agent("http:");
    hits = 0;
    const { request } = await import("node:http");
    const err = await new Promise<Error>((resolve) => {
      request(`http://origin.test:${port}/`, { agent }, () => resolve(new Error("answered")))
        .on("error", resolve)
        .end();
    });
    agent.destroy();
    expect(err).toBeInstanceOf(EgressRefusedError);
    expect(hits).toBe(0);
  });
});
