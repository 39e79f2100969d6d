import type { ClientInfo } from "@trellis/contracts";
import type { Request } from "express";

/** The caller's address (behind `TRUST_PROXY` hops) and user agent, for rate limits and the login log. */
export function clientInfo(req: Request): ClientInfo {
  const userAgent = req.get("user-agent")?.slice(0, 500);
  return {
    address: (req.ip ?? req.socket.remoteAddress ?? "unknown").slice(0, 100),
    ...(userAgent ? { userAgent } : {}),
  };
}
