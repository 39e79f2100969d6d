import OpenAI, { APIConnectionTimeoutError, APIError, APIUserAbortError } from "openai";
import { GeneratorError, promptMessages, questionsFromReply } from "./llm.ts";
import { modelQuestionsJsonSchema, type QuestionGenerator } from "./types.ts";

export interface OpenAiGeneratorOptions {
  /** The API root, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:11434/v1` (Ollama). */
  baseURL: string;
  /** Sent as `Authorization: Bearer`; local servers (Ollama, llama.cpp, vLLM) ignore it. */
  apiKey?: string | undefined;
  model: string;
  /** Whole request deadline; past it the job falls back to the offline generator. */
  timeoutMs: number;
}

/** The JSON schema's name in `response_format` (1-64 letters, digits, _ or -). */
export const RESPONSE_SCHEMA_NAME = "video_questions";

/**
 * Questions from an OpenAI-compatible `POST {baseURL}/chat/completions`, with a strict JSON-schema
 * response format (the schema of `ModelQuestions`), through the official `openai` client. No
 * retries: a failure falls back to the next generator at once. The job's signal aborts the request.
 * Every failure is a `GeneratorError` whose message says why (never the key nor the prompt).
 */
export function openAiQuestionGenerator(options: OpenAiGeneratorOptions): QuestionGenerator {
  const client = new OpenAI({
    baseURL: options.baseURL,
    // The client insists on a key; servers without authentication ignore it.
    apiKey: options.apiKey ?? "no-key",
    timeout: options.timeoutMs,
    maxRetries: 0,
  });
  const schema = modelQuestionsJsonSchema();
  return {
    name: `llm:${options.model}`,
    async generate(input, signal) {
      let completion: OpenAI.Chat.Completions.ChatCompletion;
      try {
        completion = await client.chat.completions.create(
          {
            model: options.model,
            messages: promptMessages(input),
            response_format: {
              type: "json_schema",
              json_schema: { name: RESPONSE_SCHEMA_NAME, strict: true, schema },
            },
            temperature: 0.2,
          },
          signal ? { signal } : {},
        );
      } catch (err) {
        if (err instanceof APIUserAbortError || signal?.aborted) throw signal?.reason ?? err;
        if (err instanceof APIConnectionTimeoutError) {
          throw new GeneratorError(`no reply within ${options.timeoutMs} ms`, { cause: err });
        }
        if (err instanceof APIError && err.status !== undefined) {
          throw new GeneratorError(`HTTP ${err.status} from the model server`, { cause: err });
        }
        throw new GeneratorError(`the model server is unreachable: ${(err as Error).message}`, { cause: err });
      }
      const choice = completion.choices?.[0];
      if (!choice) throw new GeneratorError("the model's reply has no choices");
      if (choice.finish_reason === "length") throw new GeneratorError("the model's reply was cut off (length)");
      if (choice.message?.refusal)
        throw new GeneratorError(`the model refused: ${choice.message.refusal.slice(0, 200)}`);
      return questionsFromReply(choice.message?.content, input).questions;
    },
  };
}
