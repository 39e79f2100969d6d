/**
 * The permission table of every media route: owner and admins; another user gets 404 for an
 * item id (as for an id that does not exist: ids cannot be probed) and 403 for another user's
 * collection; monitors 403; no token 401.
 */
import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import {
  admin,
  alice,
  bob,
  image,
  monitorToken,
  send,
  uploadPicture,
  uploadVideo,
  useMediaPlatform,
} from "./support/media.ts";
import type { BytesReply } from "./support/platform.ts";
import { fakeMp4 } from "./support/video.ts";

useMediaPlatform();

type Who = "none" | "owner" | "other" | "admin" | "monitor";
const WHO: Who[] = ["none", "owner", "other", "admin", "monitor"];

describe("permissions of every media route", () => {
  let picture: string;
  let video: string;
  const bearerOf = (who: Who): string | undefined =>
    who === "none" ? undefined : who === "monitor" ? monitorToken : { owner: alice, other: bob, admin }[who].bearer;

  beforeAll(async () => {
    picture = (await uploadPicture(alice, alice.id, await image(16, 16))).json.id;
    video = (await uploadVideo(alice, fakeMp4(300_000))).json.id;
  });

  const item = { none: 401, owner: 200, other: 404, admin: 200, monitor: 403 } as const;
  const collection = { none: 401, owner: 200, other: 403, admin: 200, monitor: 403 } as const;
  const created = { ...collection, owner: 201, admin: 201 } as const;
  const deleted = { ...item, owner: 204, admin: 204 } as const;
  const rows: {
    name: string;
    call: (bearer: string | undefined) => Promise<BytesReply>;
    expect: Record<Who, number>;
  }[] = [
    {
      name: "POST /api/v2/users/{id}/pictures",
      call: async (b) => send("POST", `/api/v2/users/${alice.id}/pictures`, { bearer: b, body: await image(9, 9) }),
      expect: created,
    },
    {
      name: "GET /api/v2/users/{id}/pictures",
      call: (b) => send("GET", `/api/v2/users/${alice.id}/pictures`, { bearer: b }),
      expect: collection,
    },
    {
      name: "GET /api/v2/pictures/{id}",
      call: (b) => send("GET", `/api/v2/pictures/${picture}`, { bearer: b }),
      expect: item,
    },
    {
      name: "GET /api/v2/pictures/{id}/content",
      call: (b) => send("GET", `/api/v2/pictures/${picture}/content`, { bearer: b }),
      expect: item,
    },
    {
      name: "GET /api/v2/pictures/{id}/thumbnail",
      call: (b) => send("GET", `/api/v2/pictures/${picture}/thumbnail`, { bearer: b }),
      expect: item,
    },
    {
      name: "DELETE /api/v2/pictures/{id}",
      call: async (b) => {
        const fresh = (await uploadPicture(alice, alice.id, await image(9, 9))).json.id;
        return send("DELETE", `/api/v2/pictures/${fresh}`, { bearer: b });
      },
      expect: deleted,
    },
    {
      name: "POST /api/v2/videos?user_id",
      call: (b) =>
        send("POST", `/api/v2/videos?filename=t.mp4&user_id=${alice.id}`, { bearer: b, body: fakeMp4(40_000) }),
      expect: created,
    },
    {
      name: "GET /api/v2/videos?user_id",
      call: (b) => send("GET", `/api/v2/videos?user_id=${alice.id}`, { bearer: b }),
      expect: collection,
    },
    {
      name: "GET /api/v2/videos/{id}",
      call: (b) => send("GET", `/api/v2/videos/${video}`, { bearer: b }),
      expect: item,
    },
    {
      name: "GET /api/v2/videos/{id}/content",
      call: (b) => send("GET", `/api/v2/videos/${video}/content`, { bearer: b }),
      expect: item,
    },
    {
      name: "HEAD /api/v2/videos/{id}/content",
      call: (b) => send("HEAD", `/api/v2/videos/${video}/content`, { bearer: b }),
      expect: item,
    },
    {
      name: "PUT /api/v2/videos/{id}/transcript",
      call: (b) =>
        send("PUT", `/api/v2/videos/${video}/transcript`, {
          bearer: b,
          body: Buffer.from("Words."),
          headers: { "content-type": "text/plain" },
        }),
      expect: item,
    },
    {
      name: "GET /api/v2/videos/{id}/transcript",
      call: async (b) => {
        await send("PUT", `/api/v2/videos/${video}/transcript`, {
          bearer: alice.bearer,
          body: Buffer.from("Words."),
          headers: { "content-type": "text/plain" },
        });
        return send("GET", `/api/v2/videos/${video}/transcript`, { bearer: b });
      },
      expect: item,
    },
    {
      name: "DELETE /api/v2/videos/{id}",
      call: async (b) => {
        const fresh = (await uploadVideo(alice, fakeMp4(40_000))).json.id;
        return send("DELETE", `/api/v2/videos/${fresh}`, { bearer: b });
      },
      expect: deleted,
    },
  ];

  for (const row of rows) {
    it(row.name, async () => {
      const got = {} as Record<Who, number>;
      for (const who of WHO) got[who] = (await row.call(bearerOf(who))).status;
      expect(got).toEqual(row.expect);
    });
  }

  it("answers another user's id exactly as an id that does not exist", async () => {
    for (const path of [`/api/v2/pictures/${picture}`, `/api/v2/videos/${video}/content`]) {
      const theirs = await send("GET", path, { bearer: bob.bearer });
      const missing = await send("GET", path.replace(/[0-9a-f-]{36}/, randomUUID()), { bearer: bob.bearer });
      expect([theirs.status, theirs.json.error.message]).toEqual([missing.status, missing.json.error.message]);
    }
  });

  it("takes a user's v1 token as a bearer too", async () => {
    const res = await send("GET", `/api/v2/pictures/${picture}`, { bearer: alice.v1Token });
    expect(res.status).toBe(200);
  });
});
