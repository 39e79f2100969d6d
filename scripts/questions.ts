/**
 * Prints the questions the offline generator writes for a transcript, so a person can judge them:
 * `npm run questions -- <transcript.vtt|.srt|.txt> [-n N]` (default 10). Nothing leaves the machine.
 */
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { generateOffline } from "../services/analysis/src/questions/offline.ts";
import { segmentsFromFile } from "../services/analysis/src/questions/transcript-input.ts";

const usage = "usage: npm run questions -- <transcript.vtt|.srt|.txt> [-n N]";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { n: { type: "string", short: "n", default: "10" }, help: { type: "boolean", short: "h" } },
});
const [file] = positionals;
const count = Number(values.n);
if (values.help || !file || !Number.isInteger(count) || count < 1) {
  console.error(usage);
  process.exit(values.help ? 0 : 2);
}

const clock = (ms: number) => {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
};

let content: string;
try {
  content = await readFile(file, "utf8");
} catch (error) {
  console.error(`cannot read ${file}: ${(error as Error).message}`);
  process.exit(1);
}
const segments = segmentsFromFile(file, content);
const started = performance.now();
const questions = await generateOffline({ segments, count });
const took = performance.now() - started;

questions.forEach((q, i) => {
  console.log(`${i + 1}. [${clock(q.timestampMs)}] (${q.kind === "cloze" ? "cloze" : "multiple choice"}) ${q.text}`);
  if (q.kind === "multiple_choice") {
    q.options.forEach((o, k) => {
      console.log(`   ${String.fromCharCode(97 + k)}) ${o}${o === q.answer ? "   ✓" : ""}`);
    });
  } else {
    console.log(`   answer: ${q.answer}`);
  }
  console.log("");
});
console.log(`${questions.length} question(s) from ${segments.length} segment(s) in ${took.toFixed(0)} ms`);
