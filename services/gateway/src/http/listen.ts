import type { Server } from "node:http";
import type { Express } from "express";

export interface Listening {
  port: number;
  /** Stops accepting connections, closes idle keep-alive ones, resolves when in-flight requests end. */
  close(): Promise<void>;
}

export function listen(app: Express, port: number, host: string): Promise<Listening> {
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
  });
}
