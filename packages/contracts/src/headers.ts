/** NATS message headers that are part of the contract. */
export const Headers = {
  /** Carries the HTTP request id (or one generated at the edge) into every service log line. */
  requestId: "Trellis-Request-Id",
  /** Present on error replies; the body is then an `ErrorBody`. Value: the error code. */
  errorCode: "Trellis-Error-Code",
} as const;

/** HTTP header the gateway accepts and echoes with the request id. */
export const HTTP_REQUEST_ID_HEADER = "x-request-id";
