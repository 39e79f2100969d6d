import { MAX_BULK_ROWS } from "@trellis/contracts";
import { describe, expect, it } from "vitest";
import { generatePassword, planBulk, summarize } from "./bulk.ts";

const ID = "a".repeat(32);
const ID2 = "B".repeat(32);
const OWNER = "7d1f3c1e-58a4-4a4e-9f1a-3c2b1a0f9e8d";

describe("bulk CSV plan", () => {
  it("reads rows with their line numbers, an optional header, blank lines skipped, generated passwords", () => {
    const csv = `id,owner,password\n${ID},${OWNER},Secret-Pw-1\n\n ${ID2} , ${OWNER} ,generate\n`;
    const plan = planBulk(csv, () => "Generated-1");
    expect(plan).toEqual([
      { kind: "row", row: { line: 2, monitorId: ID, ownerId: OWNER, password: "Secret-Pw-1", generated: false } },
      {
        kind: "row",
        row: { line: 4, monitorId: ID2.toLowerCase(), ownerId: OWNER, password: "Generated-1", generated: true },
      },
    ]);
  });

  it("turns bad rows into errors with a reason and keeps the good ones", () => {
    const csv = [
      `${ID},${OWNER},pw-one-1`,
      `nothex,${OWNER},pw`,
      `${ID},${OWNER},pw-two-2`,
      `${ID2},not-a-user,pw`,
      `${"c".repeat(32)},${OWNER},`,
      `${"d".repeat(32)},${OWNER}`,
      `"${"e".repeat(32)}","${OWNER}","with,comma"`,
    ].join("\r\n");
    const plan = planBulk(csv);
    const summary = plan.map((p) => (p.kind === "row" ? ["row", p.row.line] : [p.result.line, p.result.reason]));
    expect(summary).toEqual([
      ["row", 1],
      [2, "id must be 32 hexadecimal characters"],
      [3, "duplicate id: line 1 has it"],
      [4, "owner must be a user id (UUID)"],
      [5, "password is required (or generate)"],
      [6, "expected 3 cells (id,owner,password), got 2"],
      ["row", 7],
    ]);
    const last = plan[6];
    expect(last?.kind === "row" && last.row.password).toBe("with,comma");
  });

  it("refuses a file that is not CSV (400) or has too many rows (413)", () => {
    expect(() => planBulk(`${ID},"${OWNER},pw\n`)).toThrow(expect.objectContaining({ code: "invalid_argument" }));
    const many = Array.from({ length: MAX_BULK_ROWS + 1 }, () => `${ID},${OWNER},pw`).join("\n");
    expect(() => planBulk(many)).toThrow(expect.objectContaining({ code: "payload_too_large" }));
    expect(planBulk("")).toEqual([]);
  });

  it("generates 32-character random passwords, within auth's 8-128 (auth accepting them is tested end to end)", () => {
    const a = generatePassword();
    expect(a).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(a).not.toBe(generatePassword());
  });

  it("counts results by status", () => {
    expect(
      summarize([
        { line: 1, id: ID, status: "created" },
        { line: 2, id: ID2, status: "exists" },
        { line: 3, id: "x", status: "error", reason: "r" },
        { line: 4, id: "y", status: "error", reason: "r" },
      ]),
    ).toMatchObject({ created: 1, exists: 1, errors: 2 });
  });
});
