/**
 * Bulk provisioning through the real gateway, telemetry and auth: a CSV with good, duplicate,
 * existing and bad rows answers per row; a re-upload changes nothing; generated passwords log in
 * once shown; a non-admin is refused; size and type limits are 4xx.
 */
import { randomBytes } from "node:crypto";
import { MAX_BULK_CSV_BYTES } from "@trellis/contracts";
import { useFileStack } from "@trellis/stack/vitest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ADMIN,
  type HttpReply,
  http,
  loginBoth,
  type Platform,
  startPlatform,
  type Tokens,
} from "./support/platform.ts";

const stack = useFileStack();
const hex = (bytes = 16) => randomBytes(bytes).toString("hex");

let platform: Platform;
let base: string;
let admin: Tokens;
let user: Tokens & { id: string };

const upload = (csv: string, bearer = admin.bearer, contentType = "text/csv") =>
  fetch(`${base}/api/v2/monitors/bulk`, {
    method: "POST",
    headers: { authorization: `Bearer ${bearer}`, "content-type": contentType },
    body: csv,
  }).then(async (res): Promise<Pick<HttpReply, "status" | "body">> => ({ status: res.status, body: await res.json() }));

const loginMonitor = (monitorId: string, password: string) =>
  http(base, "POST", "/api/v1/login/monitor", { json: { monitor_id: monitorId, password } });

beforeAll(async () => {
  platform = await startPlatform({ stack, services: ["auth", "telemetry"] });
  base = platform.base;
  admin = await loginBoth(base, ADMIN.username, ADMIN.password);
  const username = `bulk-${platform.suffix}`;
  const password = `Pw-${hex(6)}`;
  const res = await http(base, "POST", "/api/v2/auth/register", { json: { username, password } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  user = { id: res.body.id, ...(await loginBoth(base, username, password)) };
}, 60_000);

afterAll(async () => {
  await platform?.stop();
});

describe("POST /api/v2/monitors/bulk", () => {
  it("answers per row: created, exists, errors with reasons; a re-upload changes nothing", async () => {
    const [a, b, c, existing] = [hex(), hex(), hex(), hex()];
    const created = await http(base, "POST", "/api/v2/monitors", {
      bearer: admin.bearer,
      json: { id: existing, owner_id: user.id, password: "Existing-Pw-1" },
    });
    expect(created.status).toBe(201);
    const csv = [
      "id,owner,password",
      `${a},${user.id},Given-Pw-123`,
      `${b},${user.id},generate`,
      `${a},${user.id},Other-Pw-456`,
      `${existing},${user.id},Changed-Pw-9`,
      `not-an-id,${user.id},Given-Pw-123`,
      `${c},${crypto.randomUUID()},Given-Pw-123`,
      `${hex()},${user.id},password`,
      `${hex()},${user.id},short`,
    ].join("\n");
    const first = await upload(csv);
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    const rows = first.body.results as {
      line: number;
      id: string;
      status: string;
      reason?: string;
      password?: string;
    }[];
    expect(rows.map((r) => [r.line, r.status])).toEqual([
      [2, "created"],
      [3, "created"],
      [4, "error"],
      [5, "exists"],
      [6, "error"],
      [7, "error"],
      [8, "error"],
      [9, "error"],
    ]);
    expect(first.body).toMatchObject({ created: 2, exists: 1, errors: 5 });
    expect(rows[0]).toEqual({ line: 2, id: a, status: "created" });
    expect(rows[2]?.reason).toMatch(/duplicate id: line 2/);
    expect(rows[4]?.reason).toMatch(/32 hexadecimal/);
    expect(rows[5]?.reason).toMatch(/user_id does not exist/);
    expect(rows[6]?.reason).toMatch(/too common/);
    expect(rows[7]?.reason).toMatch(/at least 8/);
    const generated = rows[1]?.password as string;
    expect(generated).toMatch(/^[A-Za-z0-9_-]{32}$/);

    // The monitors exist with their owner, and log in with the given and the generated password.
    expect((await loginMonitor(a, "Given-Pw-123")).status).toBe(200);
    expect((await loginMonitor(b, generated)).status).toBe(200);
    const got = await http(base, "GET", `/api/v2/monitors/${b}`, { bearer: user.bearer });
    expect(got.body).toMatchObject({ id: b, ownerId: user.id });
    // The existing monitor kept its password; the refused rows made no monitor.
    expect((await loginMonitor(existing, "Existing-Pw-1")).status).toBe(200);
    expect((await loginMonitor(existing, "Changed-Pw-9")).status).toBe(401);
    expect((await http(base, "GET", `/api/v2/monitors/${c}`, { bearer: admin.bearer })).status).toBe(404);

    // Again: what was created is now `exists`, no password is shown or changed.
    const again = await upload(csv);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ created: 0, exists: 3, errors: 5 });
    const againRows = again.body.results as { status: string; password?: string }[];
    expect(againRows.map((r) => r.status)).toEqual([
      "exists",
      "exists",
      "error",
      "exists",
      "error",
      "error",
      "error",
      "error",
    ]);
    expect(againRows.some((r) => r.password !== undefined)).toBe(false);
    expect((await loginMonitor(b, generated)).status).toBe(200);
  });

  it("refuses a non-admin (403), a malformed CSV (400), another type (415), an oversized body (413)", async () => {
    const row = `${hex()},${user.id},Given-Pw-123`;
    const denied = await upload(row, user.bearer);
    expect(denied.status).toBe(403);
    expect(denied.body.error.code).toBe("forbidden");
    expect((await upload(`${hex()},"${user.id},x\n`)).status).toBe(400);
    expect((await upload(row, admin.bearer, "application/octet-stream")).status).toBe(415);
    const big = await upload(`${row}\n`.repeat(Math.ceil(MAX_BULK_CSV_BYTES / row.length) + 1));
    expect(big.status).toBe(413);
    const none = await fetch(`${base}/api/v2/monitors/bulk`, { method: "POST", body: row });
    expect(none.status).toBe(401);
  });
});
