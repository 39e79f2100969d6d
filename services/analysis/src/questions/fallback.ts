import type { Logger } from "pino";
import type { GenerateInput, Question, QuestionGenerator } from "./types.ts";

/** Questions and the generator that wrote them (`offline` or `llm:<model>`), as the analysis records. */
export interface GeneratedQuestions {
  generator: string;
  questions: Question[];
}

/**
 * Tries each generator in order and returns the first one's questions; a failure (bad output, a
 * timeout, an HTTP error) is logged with its reason and the next one is tried. The last one's
 * failure, and any failure once the signal is aborted (cancel, shutdown), are thrown.
 */
export async function generateWithFallback(
  generators: readonly QuestionGenerator[],
  input: GenerateInput,
  signal: AbortSignal,
  log: Pick<Logger, "warn">,
): Promise<GeneratedQuestions> {
  for (const [i, generator] of generators.entries()) {
    signal.throwIfAborted();
    const next = generators[i + 1];
    try {
      return { generator: generator.name, questions: await generator.generate(input, signal) };
    } catch (err) {
      if (signal.aborted || !next) throw err;
      const reason = err instanceof Error ? err.message : String(err);
      log.warn({ generator: generator.name, fallback: next.name, reason }, "question generator failed, falling back");
    }
  }
  throw new Error("no question generator");
}
