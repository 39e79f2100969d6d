/**
 * No lost events: NATS is stopped while a state change is written, and the event that announces
 * it arrives once NATS is back (the same server, started again on its port and store dir), stored
 * exactly once in its stream. Through the real gateway, auth, media and telemetry. The service that
 * wrote the change is also killed (SIGKILL) while NATS is down, before it could publish: the NATS
 * client's own reconnect buffer dies with it, so only the outbox (read by the new instance's
 * sweeper) can bring the event.
 *
 * - A media upload: media's ffprobe is a wrapper that holds the upload after the last byte arrived
 *   (before the video is written) until the test has stopped NATS; the video is then written with
 *   NATS down, so `video_uploaded` cannot be published at that moment.
 * - An offline alarm: NATS is stopped while a monitor is online; its timeout passes and telemetry's
 *   sweeper claims `offline` (a database write) with NATS down, so neither `monitor_offline` nor the
 *   offline alarm's `alarm.raised` can be published then.
 */
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DeliverPolicy, jetstream } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  type AlarmEvent,
  alarmEvents,
  MEDIA_EVENTS_STREAM,
  mediaEvents,
  presenceEvents,
  TELEMETRY_EVENTS_STREAM,
} from "@trellis/contracts";
import { poll, startService } from "@trellis/stack/testing";
import { useFileStack } from "@trellis/stack/vitest";
import { type Db, MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ADMIN,
  createMonitor,
  http,
  loginBoth,
  type Platform,
  registerWithTokens,
  startPlatform,
  type Tokens,
} from "./support/platform.ts";
import { testVideo } from "./support/video.ts";

const stack = useFileStack();
const OUTBOX = { OUTBOX_RETRY_MS: "500", OUTBOX_SWEEP_INTERVAL_MS: "200" };

let platform: Platform;
let base: string;
let admin: Tokens;
let owner: Tokens & { id: string };
let mongo: MongoClient;
let gate: string;

/** Every message of a stream on one subject, as JSON (read through a fresh connection). */
async function messagesOf<T>(stream: string, subject: string): Promise<T[]> {
  const nc: NatsConnection = await connect({ servers: stack.natsUrl, user: stack.natsUser, pass: stack.natsPassword });
  try {
    const js = jetstream(nc);
    const consumer = await js.consumers.get(stream, { filter_subjects: [subject], deliver_policy: DeliverPolicy.All });
    const pending = (await consumer.info()).num_pending;
    const out: T[] = [];
    if (pending === 0) return out;
    for await (const m of await consumer.fetch({ max_messages: pending, expires: 3_000 })) {
      out.push(m.json<T>());
      if (out.length === pending) break;
    }
    return out;
  } finally {
    await nc.close();
  }
}

/** The running process of a service. */
const restartable = (name: string) => {
  const proc = platform.procs.find((p) => p.name === name);
  if (!proc) throw new Error(`no ${name} process`);
  return proc;
};

/** Starts a new process of a service killed by the test (the old one is replaced in the platform's list). */
async function restart(name: string): Promise<void> {
  const old = restartable(name);
  await old.exited;
  platform.procs.splice(platform.procs.indexOf(old), 1, await startService(name, platform.env(name)));
}

/** Polls until `count()` is at least 1, then gives the sweepers time to republish again: returns the final count. */
async function settledCount(count: () => Promise<number>): Promise<number> {
  const { value } = await poll(count, (n) => n >= 1, { timeoutMs: 30_000, intervalMs: 250 });
  expect(value, "the event arrived after NATS returned").toBeGreaterThanOrEqual(1);
  // Several sweep intervals and retry windows: a second copy would be stored by now.
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  return count();
}

beforeAll(async () => {
  gate = mkdtempSync(join(tmpdir(), "trellis-outage-"));
  const ffprobe = join(gate, "ffprobe");
  // Takes every byte, says so, waits until the test opens the gate, then runs the real ffprobe.
  writeFileSync(
    ffprobe,
    `#!/bin/sh\ncat > "${gate}/input"\ntouch "${gate}/fed"\nwhile [ ! -e "${gate}/open" ]; do sleep 0.05; done\nexec ffprobe "$@" < "${gate}/input"\n`,
  );
  chmodSync(ffprobe, 0o755);
  platform = await startPlatform({
    stack,
    services: ["auth", "media", "telemetry"],
    extraEnv: {
      ...OUTBOX,
      FFPROBE_PATH: ffprobe,
      FFPROBE_TIMEOUT_MS: "60000",
      OFFLINE_AFTER_SECONDS: "2",
      PRESENCE_SWEEP_INTERVAL_MS: "200",
    },
  });
  base = platform.base;
  admin = await loginBoth(base, ADMIN.username, ADMIN.password);
  owner = await registerWithTokens(base, platform.suffix, "outage-owner");
  mongo = await MongoClient.connect(platform.env("media").MONGO_URL as string);
}, 90_000);

afterAll(async () => {
  await mongo?.close();
  await platform?.stop();
  if (gate) rmSync(gate, { recursive: true, force: true });
});

describe("events committed while NATS is down arrive once it is back, exactly once", () => {
  it("a media upload: video_uploaded", async () => {
    const mediaDb: Db = mongo.db(platform.dbName("media"));
    const upload = fetch(`${base}/api/v2/videos?filename=outage.mp4`, {
      method: "POST",
      headers: { authorization: `Bearer ${owner.bearer}`, "content-type": "video/mp4" },
      body: new Uint8Array(testVideo({ seconds: 1 })),
    })
      .then((res) => res.arrayBuffer())
      .catch((err: unknown) => err);
    // Every byte is with media; the video is not written yet.
    const fed = await poll(
      () => existsSync(join(gate, "fed")),
      (v) => v,
      { timeoutMs: 20_000 },
    );
    expect(fed.value).toBe(true);
    expect(await mediaDb.collection("videos.files").countDocuments()).toBe(0);

    await stack.natsOutage.down();
    let videoId: string;
    try {
      writeFileSync(join(gate, "open"), "");
      // The video is written with NATS down, and its event waits in the outbox.
      const stored = await poll(
        () => mediaDb.collection<{ _id: string }>("videos.files").findOne({}),
        (doc) => doc !== null,
        { timeoutMs: 20_000, intervalMs: 100 },
      );
      videoId = stored.value?._id as string;
      expect(videoId).toBeTruthy();
      const pending = await mediaDb
        .collection("outbox")
        .countDocuments({ _id: new RegExp(`^video_uploaded:${videoId}:`) } as never);
      expect(pending).toBe(1);
      // Media tried to publish and could not; then it dies.
      await restartable("media").waitForLog(
        (l) => l.msg === "event not published yet; the outbox sweeper retries",
        20_000,
      );
      await restartable("media").stop("SIGKILL");
    } finally {
      await stack.natsOutage.up();
    }
    await upload;
    await restart("media");

    const uploadedOf = async () =>
      (await messagesOf<{ video: { id: string } }>(MEDIA_EVENTS_STREAM, mediaEvents.videoUploaded.subject)).filter(
        (e) => e.video.id === videoId,
      ).length;
    expect(await settledCount(uploadedOf)).toBe(1);
    // Sent: the outbox holds nothing for it any more.
    expect(await mediaDb.collection("outbox").countDocuments({})).toBe(0);
  }, 120_000);

  it("an offline alarm: monitor_offline and alarm.raised", async () => {
    const telemetryDb: Db = mongo.db(platform.dbName("telemetry"));
    const monitor = await createMonitor(base, admin.bearer, owner.id);
    const reading = await http(base, "POST", `/api/v2/monitors/${monitor.id}/readings`, {
      bearer: monitor.token,
      json: { ph: 6.5 },
    });
    expect(reading.status, JSON.stringify(reading.body)).toBe(200);
    const online = await poll(
      () => telemetryDb.collection<{ _id: string; presence?: string }>("monitors").findOne({ _id: monitor.id }),
      (doc) => doc?.presence === "online",
      { timeoutMs: 10_000, intervalMs: 100 },
    );
    expect(online.value?.presence).toBe("online");

    await stack.natsOutage.down();
    try {
      // The timeout (2 s) passes with NATS down: the claim is written, its announcement waits in the outbox.
      const claimed = await poll(
        () =>
          telemetryDb
            .collection<{ _id: string; presence?: string; outbox?: Record<string, unknown> }>("monitors")
            .findOne({ _id: monitor.id }),
        (doc) => doc?.presence === "offline",
        { timeoutMs: 20_000, intervalMs: 100 },
      );
      expect(claimed.value?.presence).toBe("offline");
      expect(Object.keys(claimed.value?.outbox ?? {})).toEqual([expect.stringMatching(/^offline-\d+$/)]);
      // Telemetry dies before NATS returns (both instances: this file runs one).
      await restartable("telemetry").stop("SIGKILL");
    } finally {
      await stack.natsOutage.up();
    }
    await restart("telemetry");

    const raisedOf = async () =>
      (await messagesOf<AlarmEvent>(TELEMETRY_EVENTS_STREAM, alarmEvents.raised.subject)).filter(
        (e) => e.alarm.monitor_id === monitor.id && e.alarm.kind === "offline",
      ).length;
    expect(await settledCount(raisedOf)).toBe(1);
    const offline = (
      await messagesOf<{ monitorId: string }>(TELEMETRY_EVENTS_STREAM, presenceEvents.monitorOffline.subject)
    ).filter((e) => e.monitorId === monitor.id);
    expect(offline).toHaveLength(1);
    // One alarm record, open, and the monitor's outbox is empty.
    expect(await telemetryDb.collection("alarms").countDocuments({ monitorId: monitor.id, kind: "offline" })).toBe(1);
    const after = await telemetryDb
      .collection<{ _id: string; outbox?: Record<string, unknown> }>("monitors")
      .findOne({ _id: monitor.id });
    expect(after?.outbox ?? {}).toEqual({});
    // The API shows it as any offline alarm.
    const alarms = await http(base, "GET", `/api/v2/alarms?monitor_id=${monitor.id}`, { bearer: owner.bearer });
    expect(alarms.status).toBe(200);
    expect(alarms.body.items).toEqual([expect.objectContaining({ kind: "offline", state: "active" })]);
  }, 120_000);
});
