import { parse } from "csv-parse/sync";
import { describe, expect, it } from "vitest";
import { awkwardQuestions } from "../../test/awkward-questions.ts";
import { clock, csvField, toCsv } from "./csv.ts";

describe("CSV export", () => {
  it("quotes only the fields that need it", () => {
    expect(csvField("plain")).toBe("plain");
    expect(csvField("a,b")).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField("two\nlines")).toBe('"two\nlines"');
    expect(csvField(" edge")).toBe('" edge"');
    expect(csvField(null)).toBe("");
    expect(csvField(42)).toBe("42");
  });

  it("parses back with csv-parse: header, one row per question, commas, quotes and line breaks intact", () => {
    const csv = toCsv(awkwardQuestions);
    const rows: Record<string, string>[] = parse(csv, { columns: true, relax_column_count: false });
    expect(Object.keys(rows[0] ?? {})).toEqual([
      "number",
      "kind",
      "question",
      "answer",
      "option_1",
      "option_2",
      "option_3",
      "option_4",
      "explanation",
      "timestamp_ms",
      "timestamp",
      "keyframe_id",
    ]);
    expect(rows).toHaveLength(awkwardQuestions.length);
    awkwardQuestions.forEach((q, i) => {
      const row = rows[i];
      expect(row?.number).toBe(String(i + 1));
      expect(row?.kind).toBe(q.kind);
      expect(row?.question).toBe(q.text);
      expect(row?.answer).toBe(q.answer);
      expect([row?.option_1, row?.option_2, row?.option_3, row?.option_4].filter((o) => o !== "")).toEqual(q.options);
      expect(row?.explanation).toBe(q.explanation);
      expect(row?.timestamp_ms).toBe(String(q.timestampMs));
      expect(row?.keyframe_id).toBe(q.keyframeId ?? "");
    });
    expect(rows[1]?.timestamp).toBe("1:02:03");
  });

  it("writes only the header for no questions", () => {
    const rows: string[][] = parse(toCsv([]));
    expect(rows).toHaveLength(1);
    expect(rows[0]?.[0]).toBe("number");
  });

  it("formats clock times", () => {
    expect(clock(0)).toBe("0:00");
    expect(clock(61_999)).toBe("1:01");
    expect(clock(3_723_000)).toBe("1:02:03");
  });
});
