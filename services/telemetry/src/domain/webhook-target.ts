import { isIP } from "node:net";

/**
 * Whether a webhook URL names this machine or a private network by its host literal (localhost,
 * loopback, RFC 1918, link-local, unique-local IPv6). Refused unless configured otherwise, so a user
 * cannot make telemetry POST into the platform's own network. Names that merely resolve to such
 * addresses are not caught here (that needs a resolving, pinning HTTP agent).
 */
export function isPrivateTarget(url: string): boolean {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, "").toLowerCase();
  if (host === "localhost" || host.endsWith(".localhost")) return true;
  const kind = isIP(host);
  if (kind === 4) {
    const [a = 0, b = 0] = host.split(".").map(Number);
    return (
      a === 0 ||
      a === 10 ||
      a === 127 ||
      (a === 169 && b === 254) ||
      (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168) ||
      (a === 100 && b >= 64 && b <= 127)
    );
  }
  if (kind === 6) {
    if (host === "::1" || host === "::") return true;
    // IPv4-mapped: the URL parser writes ::ffff:127.0.0.1 as ::ffff:7f00:1.
    const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
    if (mapped) {
      const [hi, lo] = [Number.parseInt(mapped[1] ?? "0", 16), Number.parseInt(mapped[2] ?? "0", 16)];
      return isPrivateTarget(`http://${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}/`);
    }
    return /^f[cd]/.test(host) || /^fe[89ab]/.test(host);
  }
  return false;
}
