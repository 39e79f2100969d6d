/**
 * Checks the README and docs/ against the tree: every relative link points to a file that exists
 * (and to a heading of it, for `#anchor`), and every repository path written as inline code
 * (`services/…/x.ts`) exists, so a file moved or renamed shows up as a failing unit test
 * (scripts/docs/links.test.ts) instead of a stale sentence.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";

export const ROOT = join(import.meta.dirname, "..", "..");

/**
 * Files other branches add, linked already (the README is the index of docs/): a link to one is
 * allowed while the file is absent, and checked like any other once it is there.
 */
export const PENDING = new Set<string>([]);

/** Top-level folders whose paths, written as inline code, must exist. */
const REPO_ROOTS = ["services", "packages", "tests", "scripts", "tools", "deploy", "bench", "docs", ".ci", "types"];

/** Built or generated at run time, not in the tree. */
const BUILT = ["packages/console/dist"];

/** README.md and every Markdown file under docs/, as repository paths. */
export function markdownFiles(): string[] {
  const out = ["README.md"];
  const walk = (dir: string) => {
    for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory()) walk(path);
      else if (e.name.endsWith(".md")) out.push(path);
    }
  };
  walk("docs");
  return out.sort();
}

/** The text outside fenced code blocks (links and paths in examples are not checked). */
export function prose(markdown: string): string {
  let fenced = false;
  return markdown
    .split("\n")
    .map((line) => {
      if (/^\s*(```|~~~)/.test(line)) {
        fenced = !fenced;
        return "";
      }
      return fenced ? "" : line;
    })
    .join("\n");
}

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
export function slug(heading: string): string {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/`/g, "")
    .toLowerCase()
    .trim()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

/** The anchors of a Markdown file's headings (repeated headings get -1, -2, … as on GitHub). */
export function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const line of prose(markdown).split("\n")) {
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const base = slug(m[1] as string);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Relative link targets of a file's prose: `[text](target)`, outside inline code. */
export function links(markdown: string): string[] {
  const text = prose(markdown).replace(/`[^`\n]*`/g, "");
  return [...text.matchAll(/\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)]
    .map((m) => m[1] as string)
    .filter((t) => !/^[a-z][a-z0-9+.-]*:/i.test(t));
}

/** Repository paths written as inline code (`services/gateway/src/http/sse.ts`, `tools/ferretdb/patches/`). */
export function codePaths(markdown: string): string[] {
  const out: string[] = [];
  for (const m of prose(markdown).matchAll(/`([^`\n]+)`/g)) {
    const span = (m[1] as string).trim();
    if (!/^[\w.@/-]+$/.test(span) || !span.includes("/")) continue;
    if (!REPO_ROOTS.some((r) => span.startsWith(`${r}/`))) continue;
    if (BUILT.some((b) => span === b || span.startsWith(`${b}/`))) continue;
    out.push(span);
  }
  return out;
}

/** What is wrong with one file's links and paths, one line each. */
export function problems(file: string): string[] {
  const markdown = readFileSync(join(ROOT, file), "utf8");
  const out: string[] = [];
  for (const target of links(markdown)) {
    const [pathPart = "", anchor] = target.split("#", 2);
    const path = pathPart === "" ? file : normalize(join(dirname(file), decodeURIComponent(pathPart)));
    const repoPath = relative(".", path);
    if (!existsSync(join(ROOT, repoPath))) {
      if (!PENDING.has(repoPath)) out.push(`${file}: link to ${target}: no file ${repoPath}`);
      continue;
    }
    if (anchor !== undefined && repoPath.endsWith(".md")) {
      const known = anchors(readFileSync(join(ROOT, repoPath), "utf8"));
      if (!known.has(anchor)) out.push(`${file}: link to ${target}: ${repoPath} has no heading #${anchor}`);
    }
  }
  for (const path of codePaths(markdown)) {
    if (!existsSync(join(ROOT, path))) out.push(`${file}: \`${path}\` does not exist`);
  }
  return out;
}
