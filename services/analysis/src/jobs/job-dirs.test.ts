/**
 * Start-up cleanup with real processes: a job directory whose owner died (as after SIGKILL) with
 * an orphaned child still working in it, one of a live owner, one of a pid now reused by another
 * process, and one of another host.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  cleanStaleJobDirs,
  JOB_DIR_PREFIX,
  makeJobDir,
  OWNER_FILE,
  processesIn,
  UNMARKED_GRACE_MS,
} from "./job-dirs.ts";

let root: string;
const children: ChildProcess[] = [];

const alive = (pid: number): boolean => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
};

/** A process that has exited: its pid is free (reaped). */
async function deadPid(): Promise<number> {
  const p = spawn("true");
  await new Promise((r) => p.once("exit", r));
  return p.pid as number;
}

/** `sleep` in its own process group working in `dir`, as the worker starts ffmpeg / yt-dlp. */
function orphan(dir: string): number {
  const child = spawn("sleep", ["60"], { cwd: dir, detached: true, stdio: "ignore" });
  children.push(child);
  return child.pid as number;
}

let serial = 0;
/** A job directory's name as the worker makes them: the analysis id and six characters. */
const jobName = () => `${JOB_DIR_PREFIX}${randomUUID()}-abc${String(serial++).padStart(3, "0")}`;

function markedDir(owner: object): string {
  const dir = join(root, jobName());
  mkdirSync(dir);
  writeFileSync(join(dir, OWNER_FILE), JSON.stringify(owner));
  writeFileSync(join(dir, "video"), "partial download");
  return dir;
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "trellis-jobdirs-test-"));
});
afterEach(() => {
  for (const c of children.splice(0)) if (c.pid && alive(c.pid)) process.kill(c.pid, "SIGKILL");
  rmSync(root, { recursive: true, force: true });
});

describe("job directories", () => {
  it("are marked with the process that made them", async () => {
    const id = randomUUID();
    const dir = await makeJobDir(root, id);
    expect(dir).toMatch(new RegExp(`^${join(root, JOB_DIR_PREFIX)}${id}-[A-Za-z0-9]{6}$`));
    const owner = JSON.parse(readFileSync(join(dir, OWNER_FILE), "utf8"));
    expect(owner.pid).toBe(process.pid);
    expect(owner.started).toMatch(/^\d+$/);
  });

  it("of a dead worker are removed at start-up and the orphans working in them killed; others are kept", async () => {
    const { hostname } = await import("node:os");
    const host = hostname();
    const dead = markedDir({ host, pid: await deadPid(), started: "1" });
    const orphanPid = orphan(dead);
    // The same pid as this live process but another start time: the pid was reused, the owner is gone.
    const reused = markedDir({ host, pid: process.pid, started: "0" });
    const live = await makeJobDir(root, randomUUID());
    const liveChild = orphan(live);
    const elsewhere = markedDir({ host: `${host}-not`, pid: await deadPid(), started: "1" });
    // Not job directories, though named alike (a test's work dir), even dead-marked and old.
    const unrelated = join(root, `${JOB_DIR_PREFIX}test-abcdef`);
    mkdirSync(unrelated);
    writeFileSync(join(unrelated, OWNER_FILE), JSON.stringify({ host, pid: await deadPid(), started: "1" }));

    expect(await processesIn(dead)).toEqual([orphanPid]);
    const report = await cleanStaleJobDirs(root);

    expect(report.removed.sort()).toEqual([dead, reused].sort());
    expect(report.killed).toEqual([orphanPid]);
    expect(alive(orphanPid)).toBe(false);
    expect(existsSync(dead)).toBe(false);
    expect(existsSync(reused)).toBe(false);
    // A live worker's job, another host's and anything not ours are left alone.
    expect(existsSync(live)).toBe(true);
    expect(alive(liveChild)).toBe(true);
    expect(existsSync(elsewhere)).toBe(true);
    expect(existsSync(unrelated)).toBe(true);
  });

  it("without an owner file are removed only once older than UNMARKED_GRACE_MS (15 s)", async () => {
    const fresh = join(root, jobName());
    mkdirSync(fresh);
    const other = join(root, `${JOB_DIR_PREFIX}url-test-abcdef`);
    mkdirSync(other);
    expect((await cleanStaleJobDirs(root)).removed).toEqual([]);
    expect((await cleanStaleJobDirs(root, Date.now() + UNMARKED_GRACE_MS - 1_000)).removed).toEqual([]);
    expect((await cleanStaleJobDirs(root, Date.now() + UNMARKED_GRACE_MS + 1_000)).removed).toEqual([fresh]);
    expect(existsSync(other)).toBe(true);
  });

  it("are nothing to clean when the root does not exist", async () => {
    expect(await cleanStaleJobDirs(join(root, "missing"))).toEqual({ removed: [], killed: [] });
  });
});
