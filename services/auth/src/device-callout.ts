import { Algorithms, decode, encodeAuthorizationResponse, encodeUser } from "@nats-io/jwt";
import { fromPublic, fromSeed, type KeyPair } from "@nats-io/nkeys";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { COMMAND_TIMEOUT_MS, deviceSubjects, MonitorId } from "@trellis/contracts";
import type { Logger } from "pino";
import type { Logins } from "./logins.ts";

/** The subject the NATS server sends authorization requests to (auth callout, NATS >= 2.10). */
export const AUTH_CALLOUT_SUBJECT = "$SYS.REQ.USER.AUTH";

/** The part of the server's authorization request we use. */
interface AuthorizationRequest {
  user_nkey: string;
  server_id: { id: string };
  client_info?: { host?: string };
  connect_opts?: { user?: string; pass?: string };
}

/**
 * What a monitor may do on NATS: publish its own readings, hear its own commands and replies, and
 * answer each command it received, once, within the longest command timeout (`resp`: the server's
 * `allow_responses`, which lets a subscriber publish to the reply subject of a message delivered
 * to it and to nothing else; so a device cannot answer a command sent to another device).
 */
export function devicePermissions(monitorId: string) {
  return {
    pub: { allow: [deviceSubjects.readings(monitorId)] },
    sub: { allow: [deviceSubjects.commands(monitorId), `${deviceSubjects.inboxPrefix(monitorId)}.>`] },
    resp: { max: 1, ttl: COMMAND_TIMEOUT_MS.max * 1_000_000 },
  };
}

export interface DeviceCalloutOptions {
  issuerSeed: string;
  account: string;
  ttlSeconds: number;
}

/**
 * Answers the NATS server's auth callout: a connection whose user is a monitor id and whose
 * password is that monitor's password gets a user JWT allowing only its own subjects; anything
 * else is refused. Monitor credentials, their rate limits and argon2id checks are the same ones
 * `/api/v1/login/monitor` uses, so a deleted monitor can no longer connect.
 */
export function serveDeviceCallout(
  nc: NatsConnection,
  logins: Logins,
  log: Logger,
  options: DeviceCalloutOptions,
): { stop(): Promise<void> } {
  const issuer: KeyPair = fromSeed(new TextEncoder().encode(options.issuerSeed));
  const inFlight = new Set<Promise<void>>();

  const answer = async (data: Uint8Array): Promise<Uint8Array> => {
    const request = decode<AuthorizationRequest>(new TextDecoder().decode(data)).nats;
    if (!request.user_nkey || !request.server_id?.id) throw new Error("malformed authorization request");
    const userKey = fromPublic(request.user_nkey);
    const serverKey = fromPublic(request.server_id.id);
    const respond = (body: { jwt: string } | { error: string }) =>
      encodeAuthorizationResponse(userKey, serverKey, issuer, body, { algorithm: Algorithms.v2 });

    const monitorId = MonitorId.safeParse(request.connect_opts?.user ?? "");
    const password = request.connect_opts?.pass ?? "";
    if (!monitorId.success || !password)
      return new TextEncoder().encode(await respond({ error: "invalid credentials" }));
    try {
      await logins.monitorByPassword(monitorId.data, password, { address: request.client_info?.host ?? "nats" });
    } catch (err) {
      log.info({ monitorId: monitorId.data, reason: (err as Error).message }, "device connection refused");
      return new TextEncoder().encode(await respond({ error: "invalid credentials" }));
    }
    const jwt = await encodeUser(monitorId.data, userKey, issuer, devicePermissions(monitorId.data), {
      algorithm: Algorithms.v2,
      aud: options.account,
      exp: Math.floor(Date.now() / 1000) + options.ttlSeconds,
    });
    log.info({ monitorId: monitorId.data }, "device connection authorized");
    return new TextEncoder().encode(await respond({ jwt }));
  };

  // A queue group: with two auth instances, each connection attempt is answered once.
  const sub: Subscription = nc.subscribe(AUTH_CALLOUT_SUBJECT, {
    queue: "trellis-auth-callout",
    callback: (err, msg) => {
      if (err) return;
      const p = answer(msg.data)
        .then((reply) => void msg.respond(reply))
        .catch((e) => log.error({ err: e }, "auth callout request failed"))
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
    },
  });

  return {
    async stop() {
      await sub.drain();
      await Promise.allSettled([...inFlight]);
    },
  };
}
