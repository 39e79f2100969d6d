/**
 * How a failed yt-dlp run is treated: `invalid` input is final (the origin refused the URL, there
 * is no video there, or it is not available), `transient` is retried with backoff (the network, a
 * 5xx, 408/429 from the origin).
 */
export interface YtDlpFailure {
  kind: "invalid" | "transient";
  message: string;
}

const TRANSIENT_STATUS = new Set([408, 425, 429]);
const NETWORK =
  /connection (?:refused|reset|aborted)|timed? ?out|temporary failure|name or service not known|name resolution|network is unreachable|no route to host|transporterror|incompleteread|remote end closed|eof occurred|ssl|broken pipe|unable to connect/i;
const UNAVAILABLE =
  /video unavailable|private video|not available|members[- ]only|sign in to confirm your age|has been removed|does not exist|no video formats|requested format is not available|drm protected|is not a valid url|unable to extract/i;

/** The last `ERROR:` line of yt-dlp's stderr, without its prefix and Python's `(caused by …)` tail. */
export function ytDlpErrorLine(stderr: string): string {
  const lines = stderr
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.startsWith("ERROR:"));
  const last = lines[lines.length - 1] ?? stderr.trim().split("\n").pop() ?? "";
  return last
    .replace(/^ERROR:\s*/, "")
    .replace(/\s*\(caused by .*\)\s*$/, "")
    .slice(0, 300)
    .trim();
}

/** Classifies a failed yt-dlp run from its stderr. Unknown failures are transient (retries are bounded). */
export function classifyYtDlpError(stderr: string): YtDlpFailure {
  const line = ytDlpErrorLine(stderr);
  const message = line || "yt-dlp failed";
  const status = /HTTP Error (\d{3})/.exec(line)?.[1];
  if (status) {
    const code = Number(status);
    if (code >= 500 || TRANSIENT_STATUS.has(code)) return { kind: "transient", message };
    return { kind: "invalid", message: `the origin refused the URL: ${message}` };
  }
  if (/unsupported url/i.test(line)) return { kind: "invalid", message: `no video found at the URL: ${message}` };
  if (NETWORK.test(line)) return { kind: "transient", message };
  if (UNAVAILABLE.test(line)) return { kind: "invalid", message };
  return { kind: "transient", message };
}
