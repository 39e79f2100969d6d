import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * The `Trellis-Signature` header of a webhook delivery: `t=<unix seconds>,v1=<hex>` where the hex
 * is HMAC-SHA256 with the user's secret over `<t>.<raw body>` (as Stripe does: the timestamp is
 * signed too, so a receiver can refuse old replays).
 */
export function signatureHeader(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac("sha256", secret).update(`${unixSeconds}.${body}`).digest("hex");
  return `t=${unixSeconds},v1=${mac}`;
}

/** What a receiver does: true when the header signs this body with this secret. */
export function verifySignature(secret: string, body: string, header: string): boolean {
  const parts = Object.fromEntries(header.split(",").map((p) => p.split("=", 2) as [string, string]));
  const t = Number(parts.t);
  if (!Number.isInteger(t) || typeof parts.v1 !== "string") return false;
  const expected = Buffer.from(signatureHeader(secret, body, t).split("v1=")[1] ?? "", "hex");
  const given = Buffer.from(parts.v1, "hex");
  return given.length === expected.length && timingSafeEqual(given, expected);
}
