/**
 * A DNS server on 127.0.0.1 for tests (dns2, real DNS over UDP on an ephemeral port): names
 * answer with the A/AAAA records a test sets, and may change between queries (DNS rebinding).
 * Services point `EGRESS_DNS_SERVERS` at it, so a test can have a name resolve to 10.x without
 * any traffic ever going to 10.x.
 */
import type { AddressInfo } from "node:net";
import dns2 from "dns2";

export interface TestDnsServer {
  /** `127.0.0.1:<port>` for `EGRESS_DNS_SERVERS`. */
  server: string;
  /** Sets the addresses a name resolves to (IPv4 and IPv6 mixed); an empty list removes it. */
  set(name: string, addresses: string[]): void;
  /** Queries answered, by name (lower case). */
  queries: Map<string, number>;
  close(): Promise<void>;
}

export async function startDnsServer(records: Record<string, string[]> = {}): Promise<TestDnsServer> {
  const { Packet } = dns2;
  const table = new Map(Object.entries(records).map(([k, v]) => [k.toLowerCase(), v]));
  const queries = new Map<string, number>();
  const server = dns2.createUDPServer((request, send) => {
    const response = Packet.createResponseFromRequest(request);
    for (const q of request.questions) {
      const name = q.name.toLowerCase();
      queries.set(name, (queries.get(name) ?? 0) + 1);
      for (const address of table.get(name) ?? []) {
        const v6 = address.includes(":");
        if (q.type !== (v6 ? Packet.TYPE.AAAA : Packet.TYPE.A)) continue;
        response.answers.push({
          name: q.name,
          type: q.type,
          class: Packet.CLASS.IN,
          ttl: 0,
          address,
        } as unknown as (typeof response.answers)[number]);
      }
    }
    void send(response);
  });
  await server.listen(0, "127.0.0.1");
  const port = (server.address() as AddressInfo).port;
  return {
    server: `127.0.0.1:${port}`,
    set: (name, addresses) => {
      if (addresses.length) table.set(name.toLowerCase(), addresses);
      else table.delete(name.toLowerCase());
    },
    queries,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
