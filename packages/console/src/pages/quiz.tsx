import { useState } from "preact/hooks";
import { api } from "../api.ts";
import { ErrorNote, Page, useLoad } from "../ui.tsx";
import { clock } from "./video.tsx";

interface Q {
  id: string;
  kind: "cloze" | "multiple_choice";
  text: string;
  options: string[];
  timestampMs: number;
}
interface Result {
  correct: boolean;
  correctAnswer: string;
  explanation?: string;
}

function QuestionCard({ q, initial }: { q: Q; initial?: Result }) {
  const [result, setResult] = useState<Result | undefined>(initial);
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    const answer = String(new FormData(e.target as HTMLFormElement).get("answer") ?? "");
    try {
      setResult(await api<Result>(`/api/v2/questions/${q.id}/answers`, { method: "POST", json: { answer } }));
    } catch (err) {
      setError(err);
    }
  };
  return (
    <li class="card question" data-question={q.id}>
      <form onSubmit={submit}>
        <fieldset disabled={Boolean(result)}>
          <legend>
            <span class="muted">{clock(q.timestampMs)}</span> {q.text}
          </legend>
          {q.kind === "multiple_choice" ? (
            q.options.map((o) => (
              <label class="check">
                <input type="radio" name="answer" value={o} required /> {o}
              </label>
            ))
          ) : (
            <label>
              Your answer <input name="answer" required />
            </label>
          )}
          {!result && <button type="submit">Answer</button>}
        </fieldset>
      </form>
      {result && (
        <p role="status" class={result.correct ? "good" : "bad"}>
          {result.correct ? "Correct" : `Incorrect: the answer is ${result.correctAnswer}`}
          {result.explanation ? `. ${result.explanation}` : ""}
        </p>
      )}
      <ErrorNote error={error} />
    </li>
  );
}

export default function Quiz({ analysisId }: { analysisId: string }) {
  const { data, error } = useLoad(async () => {
    const [qs, mine] = await Promise.all([
      api<{ items: Q[] }>(`/api/v2/analyses/${analysisId}/questions`),
      api<{ items: (Result & { questionId: string })[]; score?: number }>(`/api/v2/analyses/${analysisId}/my-answers`),
    ]);
    return { questions: qs.items, mine: new Map(mine.items.map((r) => [r.questionId, r])), score: mine.score };
  }, [analysisId]);
  return (
    <Page title="Quiz">
      <ErrorNote error={error} />
      {data && (
        <>
          <p>
            {data.questions.length} questions · answered {data.mine.size}
          </p>
          <ol class="questions">
            {data.questions.map((q) => (
              <QuestionCard key={q.id} q={q} initial={data.mine.get(q.id)} />
            ))}
          </ol>
        </>
      )}
    </Page>
  );
}
