/**
 * The platform the media test files share: real gateway, auth and media processes on the file's
 * servers, with small size limits, an admin, two users (alice, bob), a monitor's token (monitors
 * have no access to media), and helpers to upload and to count what is stored.
 *
 * `useMediaPlatform()` registers the file's beforeAll/afterAll; the `let` exports below are ES
 * module live bindings, set by that beforeAll, so a test reads them as plain names. Each test file
 * gets its own copy of this module (vitest isolates files), hence its own platform.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { useFileStack } from "@trellis/stack/vitest";
import { type Db, MongoClient } from "mongodb";
import sharp from "sharp";
import { afterAll, beforeAll } from "vitest";
import {
  type Account,
  type AccountWithTokens,
  loginAdmin,
  monitorStraightInAuth,
  type Platform,
  registerWithTokens,
  sendBytes,
  startPlatform,
} from "./platform.ts";

export const PICTURE_MAX_BYTES = 512 * 1024;
export const VIDEO_MAX_BYTES = 8 * 1024 * 1024;
/** Per user: no other test's user comes near it. */
export const QUOTA_BYTES = 24 * 1024 * 1024;

export let platform: Platform;
export let base: string;
export let nc: NatsConnection;
export let mediaDb: Db;
export let admin: AccountWithTokens;
export let alice: AccountWithTokens;
export let bob: AccountWithTokens;
/** A monitor's v1 token (monitors have no access to media). */
export let monitorToken: string;

/** `env`: settings of the file's own on top of the shared ones. */
export function useMediaPlatform(env: Record<string, string> = {}): void {
  const stack = useFileStack();
  let mongo: MongoClient | undefined;
  beforeAll(async () => {
    platform = await startPlatform({
      stack,
      services: ["auth", "media"],
      extraEnv: {
        PICTURE_MAX_BYTES: String(PICTURE_MAX_BYTES),
        VIDEO_MAX_BYTES: String(VIDEO_MAX_BYTES),
        MEDIA_QUOTA_BYTES: String(QUOTA_BYTES),
        ...env,
      },
    });
    base = platform.base;
    nc = await connect({ servers: stack.natsUrl, user: stack.natsUser, pass: stack.natsPassword });
    mongo = await new MongoClient(stack.mongoUrl).connect();
    mediaDb = mongo.db(platform.dbName("media"));

    admin = await loginAdmin(base);
    [alice, bob] = await Promise.all([register("alice"), register("bob")]);
    // A monitor of alice's, with credentials made straight in auth (telemetry is not running).
    monitorToken = (await monitorStraightInAuth(nc, base, admin.id, alice.id)).token;
  });
  afterAll(async () => {
    await platform?.stop();
    await nc?.close();
    await mediaDb?.dropDatabase().catch(() => {});
    await mongo?.close();
  });
}

export const register = (prefix: string): Promise<AccountWithTokens> =>
  registerWithTokens(base, platform.suffix, prefix);

/** One request to this file's gateway, answered as bytes and, when it is JSON, parsed. */
export const send = (method: string, path: string, options?: Parameters<typeof sendBytes>[3]) =>
  sendBytes(base, method, path, options);

export const image = (width: number, height: number, format: "png" | "jpeg" | "gif" | "webp" = "png") =>
  sharp({ create: { width, height, channels: 3, background: { r: 20, g: 140, b: 60 } } })
    .toFormat(format)
    .toBuffer();

export const uploadPicture = (who: Account | undefined, userId: string, body: Uint8Array, type = "image/png") =>
  send("POST", `/api/v2/users/${userId}/pictures`, { bearer: who?.bearer, body, headers: { "content-type": type } });

export const uploadVideo = (
  who: Account | undefined,
  body: Uint8Array,
  query = "filename=clip.mp4",
  type = "video/mp4",
) => send("POST", `/api/v2/videos?${query}`, { bearer: who?.bearer, body, headers: { "content-type": type } });

/** Files and chunks of a user's pictures, thumbnails and videos, as stored. */
export async function storedOf(userId: string) {
  const count = async (bucket: string, owner: string) => {
    const ids = (
      await mediaDb
        .collection(`${bucket}.files`)
        .find({ [`metadata.${owner}`]: userId })
        .toArray()
    ).map((d) => d._id);
    let chunks = 0;
    for (const id of ids) chunks += await mediaDb.collection(`${bucket}.chunks`).countDocuments({ files_id: id });
    return { files: ids.length, chunks };
  };
  return {
    pictures: await count("pictures", "userId"),
    thumbnails: await count("thumbnails", "userId"),
    videos: await count("videos", "ownerId"),
  };
}
