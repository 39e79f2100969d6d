import "./quiz.css";
import { useEffect, useRef, useState } from "preact/hooks";
import { api } from "../api.ts";
import { clock, Player } from "../player.tsx";
import { ErrorNote, Page, useLoad } from "../ui.tsx";

interface QuizInfo {
  analysisId: string;
  title: string;
  videoId: string;
  url?: string;
  youtubeId?: string;
  state: string;
  questionCount: number;
  shared: boolean;
  trackedUrl: string | null;
  owner: boolean;
}
interface Q {
  id: string;
  kind: "cloze" | "multiple_choice";
  text: string;
  options: string[];
  timestampMs: number;
}
interface Graded {
  questionId: string;
  answer: string;
  correct: boolean;
  correctAnswer: string;
  explanation?: string;
}
interface Mine {
  items: Graded[];
  total: number;
  answered: number;
  correct: number;
  score: number | null;
}

/**
 * A jump of the playhead larger than this between two looks is a seek, not playback: questions
 * the learner skipped over do not pop up (they stay on the timeline, to be answered from there).
 */
const MAX_PLAYBACK_STEP_MS = 1500;

const pct = (x: number) => `${Math.round(x * 100)}%`;

function Verdict({ r }: { r: Graded }) {
  return (
    <div class={`verdict ${r.correct ? "good-box" : "bad-box"}`}>
      <p class={r.correct ? "good" : "bad"}>
        {r.correct ? "Correct" : "Incorrect"}
        {r.correct ? "" : `: the answer is ${r.correctAnswer}`}
      </p>
      {!r.correct && <p>Your answer: {r.answer}</p>}
      {r.explanation && <p class="explanation">{r.explanation}</p>}
    </div>
  );
}

/** The question the player stopped at: answer it, see the grading and the explanation, go on. */
function QuestionPanel({
  q,
  index,
  total,
  graded,
  onGraded,
  onContinue,
}: {
  q: Q;
  index: number;
  total: number;
  graded?: Graded;
  onGraded: (r: Graded) => void;
  onContinue: () => void;
}) {
  const heading = useRef<HTMLHeadingElement>(null);
  const next = useRef<HTMLButtonElement>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  // Keyboard and screen-reader users land on the question when the video stops for it.
  useEffect(() => heading.current?.focus(), [q.id]);
  useEffect(() => {
    if (graded) next.current?.focus();
  }, [graded]);
  const submit = async (e: Event) => {
    e.preventDefault();
    const answer = String(new FormData(e.target as HTMLFormElement).get("answer") ?? "");
    setBusy(true);
    try {
      setError(null);
      onGraded(await api<Graded>(`/api/v2/questions/${q.id}/answers`, { method: "POST", json: { answer } }));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="card quiz-question" aria-labelledby="question-heading" data-question={q.id}>
      <h2 id="question-heading" tabIndex={-1} ref={heading}>
        Question {index + 1} of {total} <span class="muted">at {clock(q.timestampMs)}</span>
      </h2>
      <form onSubmit={submit}>
        <fieldset disabled={Boolean(graded) || busy}>
          <legend>{q.text}</legend>
          {q.kind === "multiple_choice" && q.options.length > 0 ? (
            q.options.map((o) => (
              <label class="check option" key={o}>
                <input
                  type="radio"
                  name="answer"
                  value={o}
                  required
                  checked={graded ? graded.answer === o : undefined}
                />{" "}
                {o}
              </label>
            ))
          ) : (
            <label>
              Your answer <input name="answer" required autoComplete="off" value={graded?.answer} />
            </label>
          )}
        </fieldset>
        {!graded && (
          <div class="row">
            <button type="submit" disabled={busy}>
              Answer
            </button>
            <button type="button" class="secondary" onClick={onContinue}>
              Answer later
            </button>
          </div>
        )}
      </form>
      <div role="status">{graded && <Verdict r={graded} />}</div>
      {graded && (
        <button type="button" ref={next} onClick={onContinue}>
          Continue the video
        </button>
      )}
      <ErrorNote error={error} />
    </section>
  );
}

function Results({ mine, questions }: { mine: Mine; questions: Q[] }) {
  const byId = new Map(mine.items.map((r) => [r.questionId, r]));
  return (
    <section aria-labelledby="results-heading" class="results">
      <h2 id="results-heading">Your results</h2>
      <p data-testid="quiz-score">
        {mine.answered} of {mine.total} answered · {mine.correct} correct
        {mine.score !== null ? ` · score ${pct(mine.score)}` : ""}
      </p>
      {mine.answered === mine.total && mine.total > 0 && <p class="good">Quiz complete.</p>}
      {mine.items.length > 0 && (
        <ol class="questions" aria-label="Your answers">
          {questions.map((q, i) => {
            const r = byId.get(q.id);
            if (!r) return null;
            return (
              <li class="card" key={q.id} data-result={q.id}>
                <div>
                  <span class="muted">
                    {i + 1}. {clock(q.timestampMs)}
                  </span>{" "}
                  {q.text}
                </div>
                <Verdict r={r} />
              </li>
            );
          })}
        </ol>
      )}
    </section>
  );
}

export default function Quiz({ analysisId }: { analysisId: string }) {
  const { data, error } = useLoad(async () => {
    const quiz = await api<QuizInfo>(`/api/v2/analyses/${analysisId}/quiz`);
    if (quiz.state !== "completed") return { quiz, questions: [] as Q[] };
    const qs = await api<{ items: Q[] }>(`/api/v2/analyses/${analysisId}/questions`);
    return { quiz, questions: [...qs.items].sort((a, b) => a.timestampMs - b.timestampMs) };
  }, [analysisId]);
  const mine = useLoad(() => api<Mine>(`/api/v2/analyses/${analysisId}/my-answers`), [analysisId]);
  const video = useRef<HTMLVideoElement | null>(null);
  const [openId, setOpenId] = useState<string | null>(null);
  const [fresh, setFresh] = useState<Map<string, Graded>>(new Map());
  const [ended, setEnded] = useState(false);
  const [now, setNow] = useState(0);
  const [duration, setDuration] = useState(0);

  const questions = data?.questions ?? [];
  const graded = new Map(mine.data?.items.map((r) => [r.questionId, r]));
  for (const [id, r] of fresh) graded.set(id, r);

  // What the playback loop reads (it outlives renders).
  const live = useRef({ questions, graded, openId, last: -1, raf: 0, viewed: false });
  live.current.questions = questions;
  live.current.graded = graded;
  live.current.openId = openId;

  /** Stops at the first unanswered question the playhead passed since the last look. */
  const step = () => {
    const v = video.current;
    const s = live.current;
    if (!v) return;
    const at = v.currentTime * 1000;
    const from = s.last;
    s.last = at;
    if (v.seeking || at < from || at - from > MAX_PLAYBACK_STEP_MS || s.openId) return;
    const due = s.questions.find((q) => !s.graded.has(q.id) && q.timestampMs > from && q.timestampMs <= at);
    if (due) {
      v.pause();
      setOpenId(due.id);
    }
  };
  const loop = () => {
    step();
    if (video.current && !video.current.paused) live.current.raf = requestAnimationFrame(loop);
  };
  useEffect(() => () => cancelAnimationFrame(live.current.raf), []);

  const onPlay = () => {
    setEnded(false);
    cancelAnimationFrame(live.current.raf);
    live.current.raf = requestAnimationFrame(loop);
    const url = data?.quiz.trackedUrl;
    if (url && !live.current.viewed) {
      live.current.viewed = true;
      // A view of the tracked video, once per visit; a failure only loses the count.
      api("/api/v2/tracked-videos/views", { method: "POST", json: { url } }).catch(() => undefined);
    }
  };
  const open = (q: Q) => {
    const v = video.current;
    if (v) {
      v.pause();
      v.currentTime = q.timestampMs / 1000;
    }
    setOpenId(q.id);
  };
  const resume = () => {
    setOpenId(null);
    live.current.openId = null;
    // Go on from here: a question at this very point (opened from the timeline) is not due again.
    live.current.last = (video.current?.currentTime ?? 0) * 1000;
    void video.current?.play().catch(() => undefined);
  };
  const play = () => {
    const v = video.current;
    if (!v) return;
    if (v.paused) void v.play().catch(() => undefined);
    else v.pause();
  };

  const quiz = data?.quiz;
  const openQ = questions.find((q) => q.id === openId);
  const left = questions.filter((q) => !graded.has(q.id));
  const playable = quiz && quiz.state === "completed" && quiz.url === undefined;
  return (
    <Page title={quiz?.title ?? "Quiz"}>
      <ErrorNote error={error ?? mine.error} />
      {quiz && quiz.state !== "completed" && (
        <p role="status">This quiz is not ready yet: its analysis is {quiz.state}.</p>
      )}
      {quiz?.owner && (
        <p class="muted">
          You own this quiz: learners see it like this.
          {quiz.url === undefined && (
            <>
              {" "}
              Its engagement figures are on <a href={`/console/videos/${quiz.videoId}`}>the video's page</a>.
            </>
          )}
        </p>
      )}
      {quiz && quiz.state === "completed" && (
        <div class="split quiz">
          <div>
            {playable ? (
              <>
                <Player
                  src={`/api/v2/analyses/${encodeURIComponent(analysisId)}/video`}
                  video={video}
                  aria-label={`Video: ${quiz.title}`}
                  onPlay={onPlay}
                  onSeeked={() => {
                    // A seek lands here; a question exactly at the landing point is still ahead.
                    live.current.last = (video.current?.currentTime ?? 0) * 1000 - 1;
                  }}
                  onTimeUpdate={() => {
                    step();
                    setNow((video.current?.currentTime ?? 0) * 1000);
                  }}
                  onLoadedMetadata={() => setDuration((video.current?.duration ?? 0) * 1000)}
                  onEnded={() => setEnded(true)}
                />
                <div class="track" aria-hidden="true">
                  <div class="played" style={{ width: duration ? pct(Math.min(1, now / duration)) : "0%" }} />
                  {duration > 0 &&
                    questions.map((q) => {
                      const r = graded.get(q.id);
                      return (
                        <span
                          key={q.id}
                          class={`dot ${r ? (r.correct ? "right" : "wrong") : ""}`}
                          style={{ left: pct(Math.min(1, q.timestampMs / duration)) }}
                        />
                      );
                    })}
                </div>
                <div class="row">
                  <button type="button" onClick={play} disabled={Boolean(openQ)}>
                    Play / pause
                  </button>
                  <span class="muted">The video stops at each question.</span>
                </div>
              </>
            ) : (
              <p>
                Watch the video at{" "}
                <a href={quiz.url} target="_blank" rel="noopener noreferrer">
                  {quiz.youtubeId ? "YouTube" : quiz.url}
                </a>
                , then answer its questions here.
              </p>
            )}
            {ended && left.length > 0 && (
              <p role="status">
                The video ended with {left.length} question{left.length === 1 ? "" : "s"} not answered: pick one below.
              </p>
            )}
            <h2 id="timeline-heading">Questions in the video</h2>
            <ol class="timeline" aria-labelledby="timeline-heading">
              {questions.map((q, i) => {
                const r = graded.get(q.id);
                const state = r ? (r.correct ? "answered, correct" : "answered, incorrect") : "not answered";
                return (
                  <li key={q.id}>
                    <button
                      type="button"
                      class={`chip ${r ? (r.correct ? "right" : "wrong") : ""}`}
                      aria-current={openId === q.id ? "step" : undefined}
                      aria-label={`Question ${i + 1} at ${clock(q.timestampMs)}, ${state}`}
                      onClick={() => open(q)}
                    >
                      {clock(q.timestampMs)} {r ? (r.correct ? "✓" : "✗") : ""}
                    </button>
                  </li>
                );
              })}
            </ol>
          </div>
          <div>
            {openQ ? (
              <QuestionPanel
                q={openQ}
                index={questions.indexOf(openQ)}
                total={questions.length}
                graded={graded.get(openQ.id)}
                onGraded={(r) => {
                  setFresh((m) => new Map(m).set(r.questionId, r));
                  mine.reload();
                }}
                onContinue={resume}
              />
            ) : (
              <p class="card muted">
                {left.length === 0 && questions.length > 0
                  ? "Every question is answered."
                  : "Play the video: it stops at each question for you to answer."}
              </p>
            )}
            {mine.data && <Results mine={mine.data} questions={questions} />}
          </div>
        </div>
      )}
    </Page>
  );
}
