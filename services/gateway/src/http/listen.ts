import type { Server } from "node:http";
import type { Express } from "express";

export interface Listening {
  port: number;
  /** Stops accepting connections, closes idle keep-alive ones, resolves when in-flight requests end. */
  close(): Promise<void>;
}

/**
 * `requestTimeoutMs` bounds one whole request, body included (Node's default is 5 minutes, too
 * short for a large video upload); headers must still arrive within Node's `headersTimeout`.
 */
export function listen(app: Express, port: number, host: string, requestTimeoutMs = 300_000): Promise<Listening> {
  return new Promise((resolve, reject) => {
    const server: Server = app.listen(port, host, (err?: Error) => {
      if (err) return reject(err);
      const address = server.address();
      resolve({
        port: typeof address === "object" && address ? address.port : port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeIdleConnections();
          }),
      });
    });
    server.keepAliveTimeout = 65_000;
    server.requestTimeout = requestTimeoutMs;
  });
}
