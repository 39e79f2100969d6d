/**
 * Monitors connected as devices over NATS (auth callout: their own id and password), answering
 * commands the way the simulator does (`scripts/devices/commands.ts`).
 */
import { randomBytes } from "node:crypto";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { type DeviceCommand, deviceSubjects } from "@trellis/contracts";
import { expect } from "vitest";
import { answerCommand, type DeviceSettings, serveCommands } from "../../scripts/devices/commands.ts";
import { http } from "./platform.ts";

export interface DeviceCredentials {
  id: string;
  password: string;
}

/** Adds a monitor for `ownerId` through the v2 API (admin). */
export async function addMonitor(base: string, adminBearer: string, ownerId: string): Promise<DeviceCredentials> {
  const m = { id: randomBytes(16).toString("hex"), password: `Device-${randomBytes(6).toString("hex")}` };
  const res = await http(base, "POST", "/api/v2/monitors", {
    bearer: adminBearer,
    json: { id: m.id, owner_id: ownerId, password: m.password },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return m;
}

export const connectDevice = (natsUrl: string, m: DeviceCredentials): Promise<NatsConnection> =>
  connect({
    servers: natsUrl,
    user: m.id,
    pass: m.password,
    inboxPrefix: deviceSubjects.inboxPrefix(m.id),
    maxReconnectAttempts: 0,
  });

/** A simulator-like device: answers with the simulator's own command code; records what it got. */
export function simulatorLikeDevice(nc: NatsConnection, monitorId: string, ph = 6.4) {
  const settings: DeviceSettings = {};
  const received: DeviceCommand[] = [];
  const sub = serveCommands(nc, monitorId, (command) => {
    received.push(command);
    return answerCommand(settings, command, () => ph);
  });
  return { settings, received, sub };
}
