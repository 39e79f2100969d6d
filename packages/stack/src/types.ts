import type { NatsAuth } from "./nats-config.ts";
import type { Running } from "./supervisor.ts";

export type DependencyName = "mongo" | "nats" | "redis";

/**
 * FerretDB's storage when the harness runs it as a local binary (`TRELLIS_DB_BACKEND`): SQLite
 * files in the data directory, or a PostgreSQL server the harness runs beside it (Debian's
 * `postgresql`). See docs/decisions/database-backend.md for the measurements behind the default.
 */
export type DbBackend = "sqlite" | "postgresql";

/** A server process the harness may run: the dependencies, and PostgreSQL under FerretDB. */
export type ServerName = DependencyName | "postgres";

/** How a dependency was obtained, in the order they are tried. */
export type Provenance = "env" | "container" | "binary";

/** A running dependency server. */
export interface Dependency {
  readonly name: ServerName;
  readonly url: string;
  /** NATS only: the service credentials and the callout issuer key (see nats-config.ts). */
  readonly natsAuth?: NatsAuth;
  /** NATS started by the harness: its HTTP monitoring endpoint (`/varz`, `/healthz`). */
  readonly monitorUrl?: string;
  readonly via: Provenance;
  /** What was started, e.g. the image or binary, for logs. */
  readonly description: string;
  /** A local binary's current process (none during an `outage`; absent for a container or a server given by URL). */
  readonly process?: Running | undefined;
  /** Local binaries: starts the server again, same port, data and configuration (after it died). */
  respawn?(): Promise<Running>;
  /** Stops the server (no-op for servers given by URL). Idempotent. */
  stop(): Promise<void>;
  /**
   * Servers the harness started (binary or container): stop the server for a while (`down`) and
   * start it again on the same port with the same data and configuration (`up`), as an outage
   * and a restart would. Absent for servers given by URL.
   */
  readonly outage?: Outage;
}

export interface Outage {
  /** Stops the server (gracefully); its data stays. Resolves once it no longer accepts connections. */
  down(): Promise<void>;
  /** Starts it again on the same port and data; resolves once it accepts connections. */
  up(): Promise<void>;
}

export interface StartOptions {
  /** Where local binaries keep their data; a fresh temporary directory when omitted. */
  dataDir?: string;
  /** Keep data on disk across restarts (the dev stack) instead of throwaway test data. */
  persistent?: boolean;
  /**
   * Host ports on 127.0.0.1 for servers the harness starts (npm start: NATS on 4222, where devices
   * look for it); a free port for any not named. Servers given by URL keep theirs.
   */
  ports?: Partial<Record<DependencyName, number>>;
  /** Progress lines, e.g. `console.error`. */
  log?: (line: string) => void;
  /** FerretDB's backend when it runs as a local binary; `TRELLIS_DB_BACKEND` (or the default) when omitted. */
  dbBackend?: DbBackend;
}
