import { createServer, type IncomingMessage, type OutgoingHttpHeaders, request, type ServerResponse } from "node:http";
import { type AddressInfo, connect, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { type EgressPolicy, EgressRefusedError, pinnedLookup } from "./egress.ts";

/** A running egress proxy. */
export interface EgressProxy {
  /** `http://127.0.0.1:<port>`, for a client's proxy setting (yt-dlp `--proxy`). */
  url: string;
  /** The connections refused so far, first first. */
  refusals: EgressRefusedError[];
  /** Stops listening and cuts every connection still open. */
  close(): Promise<void>;
}

/** Headers of one hop only (RFC 9110 §7.6.1), never forwarded. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/** The error an origin's idle timeout destroys its socket with: known by its code, as the OS's own. */
const originTimeout = () => Object.assign(new Error("the origin did not answer in time"), { code: "ETIMEDOUT" });

/**
 * The reason phrase of a 502: what went wrong reaching the origin, in the words clients show
 * (yt-dlp reports "HTTP Error 502: Bad Gateway (Connection refused)").
 */
function badGateway(err: Error): string {
  const code = (err as { code?: string }).code;
  const what =
    code === "ECONNREFUSED"
      ? "Connection refused"
      : code === "ECONNRESET"
        ? "Connection reset"
        : code === "ETIMEDOUT"
          ? "Connection timed out"
          : code === "EHOSTUNREACH" || code === "ENETUNREACH"
            ? "No route to host"
            : err.message;
  return `Bad Gateway (${what.replace(/[^\x20-\x7e]/g, " ").slice(0, 200)})`;
}

function forwardHeaders(headers: IncomingMessage["headers"]): OutgoingHttpHeaders {
  const named = new Set(
    String(headers.connection ?? "")
      .split(",")
      .map((h) => h.trim().toLowerCase()),
  );
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !HOP_BY_HOP.has(k) && !named.has(k)) out[k] = v;
  return out;
}

/**
 * An HTTP proxy on 127.0.0.1 (an ephemeral port) that lets a client reach only what the egress
 * policy allows: `CONNECT host:port` (https) and absolute-form `GET http://…` requests (plain
 * http). Each is a new check: the target is resolved, every address checked, and the connection
 * made to the checked addresses, so every redirect a client follows is checked again. A refused
 * target gets `403 Forbidden` with the reason as text, and is recorded in `refusals`.
 */
export async function startEgressProxy(
  policy: EgressPolicy,
  opts: { connectTimeoutMs?: number; onRefused?: (err: EgressRefusedError) => void } = {},
): Promise<EgressProxy> {
  const refusals: EgressRefusedError[] = [];
  const sockets = new Set<Duplex>();
  const track = (s: Duplex) => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
  };
  const connectTimeoutMs = opts.connectTimeoutMs ?? 20_000;

  /** The target's checked addresses, or an answer already sent (403 for a refusal, 502 otherwise). */
  const check = async (
    host: string,
    port: number,
    refuse: (status: number, reason: string, phrase?: string) => void,
  ) => {
    try {
      return await policy.resolve(host, port);
    } catch (err) {
      if (err instanceof EgressRefusedError) {
        refusals.push(err);
        opts.onRefused?.(err);
        refuse(403, err.message);
      } else refuse(502, (err as Error).message, badGateway(err as Error));
      return null;
    }
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let target: URL;
    try {
      target = new URL(req.url ?? "");
      if (target.protocol !== "http:") throw new Error();
    } catch {
      res
        .writeHead(400, { "content-type": "text/plain" })
        .end("only absolute http:// requests and CONNECT are proxied");
      return;
    }
    const port = target.port ? Number(target.port) : 80;
    const refuse = (status: number, reason: string, phrase?: string) =>
      res
        .writeHead(status, phrase ?? (status === 403 ? "Forbidden" : "Bad Gateway"), {
          "content-type": "text/plain; charset=utf-8",
          connection: "close",
        })
        .end(reason);
    void check(target.hostname, port, refuse).then((addresses) => {
      if (!addresses) return;
      const upstream = request(target, {
        method: req.method,
        headers: forwardHeaders(req.headers),
        lookup: pinnedLookup(addresses),
        agent: false,
        timeout: connectTimeoutMs,
      });
      upstream.on("socket", track);
      upstream.on("timeout", () => upstream.destroy(originTimeout()));
      upstream.on("response", (up) => {
        res.writeHead(up.statusCode ?? 502, up.statusMessage, forwardHeaders(up.headers));
        up.pipe(res);
        up.on("error", () => res.destroy());
      });
      upstream.on("error", (err) => {
        if (!res.headersSent) refuse(502, err.message, badGateway(err));
        else res.destroy();
      });
      res.on("close", () => upstream.destroy());
      req.pipe(upstream);
    });
  });

  server.on("connect", (req: IncomingMessage, client: Socket, head: Buffer) => {
    track(client);
    client.on("error", () => client.destroy());
    const refuse = (status: number, reason: string, phrase?: string) => {
      const body = Buffer.from(reason);
      client.end(
        `HTTP/1.1 ${status} ${phrase ?? (status === 403 ? "Forbidden" : status === 400 ? "Bad Request" : "Bad Gateway")}\r\n` +
          `content-type: text/plain; charset=utf-8\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${reason}`,
      );
    };
    // host:port (the URL parser normalises the host: 0x7f.1 is 127.0.0.1, IPv6 compressed).
    const m = /^(\[[^\]]+\]|[^:[\]/@?#]+):(\d{1,5})$/.exec(req.url ?? "");
    let host: string;
    try {
      host = new URL(`http://${m?.[1]}/`).hostname;
    } catch {
      host = "";
    }
    const port = Number(m?.[2]);
    if (!m || !host || port < 1 || port > 65_535) {
      refuse(400, "CONNECT needs host:port");
      return;
    }
    void check(host, port, refuse).then((addresses) => {
      if (!addresses || client.destroyed) return;
      const upstream = connect({
        host: host.replace(/^\[|\]$/g, ""),
        port,
        lookup: pinnedLookup(addresses),
        timeout: connectTimeoutMs,
      });
      track(upstream);
      let open = false;
      upstream.once("timeout", () => upstream.destroy(originTimeout()));
      upstream.once("connect", () => {
        open = true;
        upstream.setTimeout(0);
        client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
        if (head.length) upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      upstream.on("error", (err) => {
        if (!open) refuse(502, err.message, badGateway(err));
        else client.destroy();
      });
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => {
        if (open) client.destroy();
      });
    });
  });
  server.on("connection", track);
  server.on("clientError", (_err, socket) => socket.destroy());

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    refusals,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}
