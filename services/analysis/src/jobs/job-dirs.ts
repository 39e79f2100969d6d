import { readFileSync } from "node:fs";
import { mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";

/** Every job directory's name starts with this (ffmpeg and yt-dlp command lines name it too). */
export const JOB_DIR_PREFIX = "trellis-analysis-";
/**
 * A job directory's whole name: the prefix, the analysis id and mkdtemp's six characters. Nothing
 * else under the temp root is ever touched (other programs' and tests' directories may share the
 * prefix's first words).
 */
const JOB_DIR_NAME = /^trellis-analysis-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-[A-Za-z0-9]{6}$/;
/** The file in a job directory naming the process that made it. */
export const OWNER_FILE = ".owner.json";
/**
 * A directory without an owner file younger than this may be in the making (its maker writes the
 * file right after creating it): left alone. Older, its maker died in between (a kill -9 right as
 * a job started, which the fault suite does).
 */
export const UNMARKED_GRACE_MS = 15_000;
/** How often a running worker looks for job directories of dead workers (beyond its start-up). */
export const JOB_DIR_SWEEP_MS = 10_000;

interface Owner {
  host: string;
  pid: number;
  /** The process's start time (clock ticks after boot, /proc/<pid>/stat field 22): tells a reused pid apart. */
  started: string | null;
}

/** A process's start time from /proc, or null (gone, or no /proc). */
async function startTimeOf(pid: number): Promise<string | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
  } catch {
    return null;
  }
}

async function isAlive(owner: Owner): Promise<boolean> {
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
  // Alive, unless the pid now belongs to another process.
  return owner.started === null || (await startTimeOf(owner.pid)) === owner.started;
}

/** Makes a job's temporary directory under `root`, marked with this process as its owner. */
export async function makeJobDir(root: string, analysisId: string): Promise<string> {
  // The marker is ready before the directory exists: nothing to await between the two.
  const owner: Owner = { host: hostname(), pid: process.pid, started: await startTimeOf(process.pid) };
  const dir = await mkdtemp(join(root, `${JOB_DIR_PREFIX}${analysisId}-`));
  await writeFile(join(dir, OWNER_FILE), JSON.stringify(owner));
  return dir;
}

/** Runs `fn`, then removes the job directory `dir` whatever happened (the one place it is removed). */
export async function removingJobDir<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Processes working for a job directory: their working directory is in it (ffmpeg and yt-dlp are
 * started there, and their children inherit it) or their command line names it.
 */
export async function processesIn(dir: string): Promise<number[]> {
  const pids: number[] = [];
  let entries: string[];
  try {
    entries = await readdir("/proc");
  } catch {
    return pids;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cwd = await readlink(`/proc/${entry}/cwd`).catch(() => "");
      const cmdline = await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "");
      if (cwd === dir || cwd.startsWith(`${dir}/`) || cmdline.includes(dir)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Whether a process still runs (a zombie waiting for a parent that does not reap it does not). */
const running = (pid: number): boolean => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
};

/**
 * SIGKILLs the processes and waits, up to 2 s, for them to be gone. Each one found is killed on
 * its own (a tool's children inherit its working directory, so they are found too), never a
 * whole process group: a group id outlives its leader and could by then name someone else's.
 */
async function killAll(pids: readonly number[]): Promise<void> {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone meanwhile
    }
  }
  const until = Date.now() + 2_000;
  while (Date.now() < until && pids.some(running)) await sleep(20);
}

export interface CleanupReport {
  removed: string[];
  killed: number[];
}

/**
 * Start-up cleanup of job directories left by a worker that died without cleaning up (SIGKILL,
 * a crash): under `root`, each `trellis-analysis-<analysis id>-XXXXXX` directory marked by a process of this host
 * that is no longer running (or whose pid now belongs to another process) has the processes still
 * working in it (an orphaned ffmpeg or yt-dlp and its children) killed, then is removed.
 * Directories of live processes and of other hosts (a shared volume) are left alone; an unmarked
 * one (made by a version before the marker, or a crash between making and marking it) is
 * removed once older than UNMARKED_GRACE_MS. Run at start-up and every JOB_DIR_SWEEP_MS.
 */
export async function cleanStaleJobDirs(root: string, now = Date.now()): Promise<CleanupReport> {
  const report: CleanupReport = { removed: [], killed: [] };
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return report;
  }
  const host = hostname();
  for (const name of names) {
    if (!JOB_DIR_NAME.test(name)) continue;
    const dir = join(root, name);
    try {
      if (!(await stat(dir)).isDirectory()) continue;
      const owner = await readFile(join(dir, OWNER_FILE), "utf8").then(
        (t) => JSON.parse(t) as Owner,
        () => null,
      );
      if (owner) {
        if (owner.host !== host || (await isAlive(owner))) continue;
      } else if (now - (await stat(dir)).mtimeMs < UNMARKED_GRACE_MS) continue;
      const pids = await processesIn(dir);
      await killAll(pids);
      report.killed.push(...pids);
      await rm(dir, { recursive: true, force: true });
      report.removed.push(dir);
    } catch {
      // removed meanwhile (another instance cleaning up at the same time)
    }
  }
  return report;
}
