/** NATS message headers that are part of the contract. */
export const Headers = {
  /** Carries the HTTP request id (or one generated at the edge) into every service log line. */
  requestId: "Trellis-Request-Id",
  /** Present on error replies; the body is then an `ErrorBody`. Value: the error code. */
  errorCode: "Trellis-Error-Code",
  /**
   * How long the caller waits for the reply, in ms (relative, so clocks need not agree). A handler
   * that waits on something (a reading to be stored) gives up before the caller does and answers
   * with its own, more precise error.
   */
  timeoutMs: "Trellis-Timeout-Ms",
} as const;

/**
 * Headers of the byte-stream protocol (`packages/runtime/src/byte-stream.ts`): a reply too large
 * for one NATS message travels as numbered chunks, with credit-based flow control.
 */
export const StreamHeaders = {
  /** On the request (and on grants): how many more chunks the receiver accepts. */
  credit: "Trellis-Stream-Credit",
  /** On the first message from the sender: the subject to send credit grants and aborts to. */
  control: "Trellis-Stream-Control",
  /** On every data chunk: 0, 1, 2, … (a gap means a lost message: the stream fails). */
  seq: "Trellis-Stream-Seq",
  /** On the last message: the stream ended normally (the payload is empty). */
  end: "Trellis-Stream-End",
  /** Sent to the control subject by the receiver to stop the sender; the value is the reason. */
  abort: "Trellis-Stream-Abort",
  /** On an upload's last message from the service: the handler's reply (JSON payload). */
  result: "Trellis-Stream-Result",
  /**
   * On an upload's ready message: a subject the service answers for as long as it handles the
   * upload (until its result is sent). The caller asks it every second, and "no responders" means
   * the service died mid-upload: the caller fails at once instead of waiting out its timeouts.
   */
  probe: "Trellis-Stream-Probe",
} as const;

/** HTTP header the gateway accepts and echoes with the request id. */
export const HTTP_REQUEST_ID_HEADER = "x-request-id";

/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/): the same two headers on HTTP requests
 * and on NATS messages (requests, stream requests, JetStream events), lowercase as the
 * recommendation writes them. Present only when the sender traces.
 */
export const TraceHeaders = {
  traceparent: "traceparent",
  tracestate: "tracestate",
} as const;
