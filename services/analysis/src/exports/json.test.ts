import { describe, expect, it } from "vitest";
import { z } from "zod";
import { awkwardQuestions } from "../../test/awkward-questions.ts";
import { Question } from "../questions/types.ts";
import { toJson } from "./json.ts";

describe("JSON export", () => {
  it("parses back to the same questions, valid against the Question schema", () => {
    const parsed = z
      .object({ title: z.string(), questions: z.array(Question) })
      .parse(JSON.parse(toJson(awkwardQuestions, "Hydroponics 101")));
    expect(parsed).toEqual({ title: "Hydroponics 101", questions: awkwardQuestions });
    expect(JSON.parse(toJson([]))).toEqual({ questions: [] });
  });
});
