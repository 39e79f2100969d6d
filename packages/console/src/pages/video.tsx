import "./video.css";
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError, api, download, live, request } from "../api.ts";
import { clock, Player } from "../player.tsx";
import { ErrorNote, fmtTime, Page, useLoad } from "../ui.tsx";

interface Analysis {
  id: string;
  title: string;
  state: string;
  progress?: { stage: string; percent: number } | null;
  shared?: boolean;
  trackedUrl?: string | null;
  createdAt: string;
}
interface Question {
  id: string;
  kind: string;
  text: string;
  options: string[];
  answer?: string;
  timestampMs: number;
  keyframeId: string | null;
}

function Progress({ analysis, onEnd }: { analysis: Analysis; onEnd: () => void }) {
  const [p, setP] = useState(analysis.progress ?? { stage: "waiting", percent: 0 });
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    const s = live(`/api/v2/analyses/${analysis.id}/events`, {
      progress: (d) => setP((d as { progress: { stage: string; percent: number } }).progress),
      completed: () => {
        s.close();
        onEnd();
      },
      failed: () => {
        s.close();
        onEnd();
      },
      cancelled: () => {
        s.close();
        onEnd();
      },
    });
    return () => s.close();
  }, [analysis.id]);
  return (
    <div>
      <progress max={100} value={p.percent} aria-label={`Analysis ${analysis.title} progress`} />{" "}
      <span data-testid="analysis-progress" data-percent={p.percent}>
        {p.stage} {Math.round(p.percent)}%
      </span>{" "}
      <button
        type="button"
        class="secondary"
        aria-label={`Cancel the analysis ${analysis.title}`}
        onClick={() => api(`/api/v2/analyses/${analysis.id}/cancel`, { method: "POST" }).then(onEnd, setError)}
      >
        Cancel
      </button>
      <ErrorNote error={error} />
    </div>
  );
}

interface Engagement {
  url: string;
  views: number;
  answersSubmitted: number;
  correctRate: number | null;
  perQuestion: { questionId: string; answers: number; correctRate: number | null }[];
}

const rate = (r: number | null) => (r === null ? "—" : `${Math.round(r * 100)}%`);

/**
 * Learners' engagement with a shared analysis, from its tracked video: views, answers, correct
 * rates, and per question how many learners answered it (each learner's first answer is the one
 * counted, so a question's answers are its learners). Reloaded every 15 s while shown.
 */
function EngagementFigures({ id, url, questions }: { id: string; url: string; questions: Question[] }) {
  const { data, error, reload, loading } = useLoad(
    () => api<Engagement>(`/api/v2/tracked-videos?url=${encodeURIComponent(url)}`),
    [url],
  );
  useEffect(() => {
    const t = setInterval(reload, 15_000);
    return () => clearInterval(t);
  }, [url]);
  const per = new Map(data?.perQuestion.map((p) => [p.questionId, p]));
  const learners = Math.max(0, ...(data?.perQuestion.map((p) => p.answers) ?? []));
  return (
    <section class="card engagement" aria-labelledby={`engagement-${id}`} data-testid="engagement">
      <div class="row">
        <h3 id={`engagement-${id}`}>Engagement</h3>
        <button type="button" class="secondary" onClick={reload} disabled={loading}>
          Refresh figures
        </button>
      </div>
      <ErrorNote error={error} />
      {data && (
        <>
          <dl class="figures">
            <div>
              <dt>Views</dt>
              <dd data-figure="views">{data.views}</dd>
            </div>
            <div>
              <dt>Answers submitted</dt>
              <dd data-figure="answers">{data.answersSubmitted}</dd>
            </div>
            <div>
              <dt>Correct rate</dt>
              <dd data-figure="correct-rate">{rate(data.correctRate)}</dd>
            </div>
            <div>
              <dt>Learners (most answered question)</dt>
              <dd data-figure="learners">{learners}</dd>
            </div>
          </dl>
          <div class="table-wrap">
            <table aria-label="Engagement per question">
              <thead>
                <tr>
                  <th scope="col">Question</th>
                  <th scope="col">Learners who answered</th>
                  <th scope="col">Correct rate</th>
                </tr>
              </thead>
              <tbody>
                {questions.map((q, i) => {
                  const p = per.get(q.id);
                  return (
                    <tr key={q.id} data-engagement={q.id}>
                      <td>
                        <span class="muted">
                          {i + 1}. {clock(q.timestampMs)}
                        </span>{" "}
                        {q.text}
                      </td>
                      <td data-figure="learners">{p?.answers ?? 0}</td>
                      <td>
                        <span data-figure="correct-rate">{rate(p?.correctRate ?? null)}</span>
                        {p?.correctRate != null && (
                          <span class="rate-bar" aria-hidden="true">
                            <span style={{ width: rate(p.correctRate) }} />
                          </span>
                        )}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  );
}

/**
 * Shares an analysis with learners: its quiz page's URL becomes a tracked video (seed 001's
 * engagement: views and answers are counted there) and the analysis is linked to it. Stopping
 * unlinks it too, since a tracked analysis is answerable by any signed-in user.
 */
async function setSharing(analysis: Analysis, share: boolean): Promise<Analysis> {
  const path = `/api/v2/analyses/${analysis.id}`;
  if (!share) return api<Analysis>(path, { method: "PATCH", json: { shared: false, tracked_url: null } });
  const url = `${location.origin}/console/quiz/${analysis.id}`;
  try {
    await api("/api/v2/tracked-videos", { method: "POST", json: { url, title: analysis.title } });
  } catch (err) {
    // Tracked already (shared before): its counts go on; anything else is the error to show.
    const tracked = await api(`/api/v2/tracked-videos?url=${encodeURIComponent(url)}`).then(
      () => true,
      () => false,
    );
    if (!(err instanceof ApiError && err.status === 400 && tracked)) throw err;
  }
  return api<Analysis>(path, { method: "PATCH", json: { shared: true, tracked_url: url } });
}

function Questions({ analysis, seek }: { analysis: Analysis; seek: (ms: number) => void }) {
  const { data, error } = useLoad(
    () => api<{ items: Question[] }>(`/api/v2/analyses/${analysis.id}/questions`),
    [analysis.id],
  );
  const [state, setState] = useState({ shared: Boolean(analysis.shared), trackedUrl: analysis.trackedUrl ?? null });
  const [err, setErr] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const quizPath = `/console/quiz/${analysis.id}`;
  const open = state.shared || state.trackedUrl !== null;
  const toggle = async () => {
    setBusy(true);
    try {
      setErr(null);
      const after = await setSharing(analysis, !open);
      setState({ shared: after.shared ?? false, trackedUrl: after.trackedUrl ?? null });
    } catch (e) {
      setErr(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-label={`Questions of ${analysis.title}`}>
      <div class="row">
        {(["csv", "moodle", "gift"] as const).map((f) => (
          <button
            type="button"
            class="secondary"
            onClick={() =>
              download(`/api/v2/analyses/${analysis.id}/questions?format=${f}`, `${analysis.title}.${f}`).catch(setErr)
            }
          >
            Export {f === "moodle" ? "Moodle XML" : f.toUpperCase()}
          </button>
        ))}
        <button type="button" onClick={toggle} disabled={busy}>
          {open ? "Stop sharing" : "Share with learners"}
        </button>
      </div>
      {open && (
        <p>
          Learners open: <a href={quizPath}>{`${location.origin}${quizPath}`}</a>
        </p>
      )}
      <ErrorNote error={error ?? err} />
      {state.trackedUrl && data && <EngagementFigures id={analysis.id} url={state.trackedUrl} questions={data.items} />}
      <ol class="questions">
        {data?.items.map((q) => (
          <li key={q.id} class="card question">
            {q.keyframeId && (
              <img
                src={`/api/v2/pictures/${q.keyframeId}/thumbnail`}
                alt={`Keyframe at ${clock(q.timestampMs)}`}
                width={160}
                height={90}
                loading="lazy"
              />
            )}
            <div>
              <button type="button" class="link" onClick={() => seek(q.timestampMs)}>
                {clock(q.timestampMs)}
              </button>{" "}
              {q.text}
              {q.kind === "multiple_choice" && <div class="muted">{q.options.join(" · ")}</div>}
              {q.answer && (
                <div>
                  Answer: <strong>{q.answer}</strong>
                </div>
              )}
            </div>
          </li>
        ))}
      </ol>
    </section>
  );
}

export default function VideoPage({ id }: { id: string }) {
  const video = useRef<HTMLVideoElement | null>(null);
  const meta = useLoad(() => api(`/api/v2/videos/${encodeURIComponent(id)}`), [id]);
  const analyses = useLoad(
    () => api<{ items: Analysis[] }>(`/api/v2/analyses?video_id=${encodeURIComponent(id)}`),
    [id],
  );
  const [error, setError] = useState<unknown>(null);
  const [open, setOpen] = useState<string | null>(null);
  const seek = (ms: number) => {
    if (!video.current) return;
    video.current.currentTime = ms / 1000;
    video.current.focus();
  };
  const start = async (e: Event) => {
    e.preventDefault();
    const f = new FormData(e.target as HTMLFormElement);
    try {
      setError(null);
      await api("/api/v2/analyses", {
        method: "POST",
        json: {
          video_id: id,
          title: String(f.get("title")),
          num_questions: Number(f.get("num_questions")),
          keyframe_interval: Number(f.get("keyframe_interval")),
        },
      });
      analyses.reload();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <Page title={meta.data?.filename ?? "Video"}>
      <ErrorNote error={meta.error} />
      <div class="split">
        <div>
          <Player src={`/api/v2/videos/${encodeURIComponent(id)}/content`} video={video} />
          <form
            class="row"
            onSubmit={async (e) => {
              e.preventDefault();
              const file = new FormData(e.target as HTMLFormElement).get("transcript") as File | null;
              if (!file || file.size === 0) return;
              const type = file.name.endsWith(".vtt")
                ? "text/vtt"
                : file.name.endsWith(".srt")
                  ? "application/x-subrip"
                  : "text/plain";
              try {
                await request(`/api/v2/videos/${encodeURIComponent(id)}/transcript`, {
                  method: "PUT",
                  headers: { "Content-Type": type },
                  body: await file.text(),
                });
                meta.reload();
              } catch (err) {
                setError(err);
              }
            }}
          >
            <label>
              {meta.data?.transcript ? "Replace the transcript" : "Add a transcript"} (.vtt, .srt or text)
              <input type="file" name="transcript" accept=".vtt,.srt,.txt,text/plain,text/vtt" required />
            </label>
            <button type="submit" class="secondary">
              Upload transcript
            </button>
          </form>
          {meta.data?.transcript && (
            <details>
              <summary>Transcript</summary>
              <pre class="transcript">
                {typeof meta.data.transcript === "string" ? meta.data.transcript : JSON.stringify(meta.data.transcript)}
              </pre>
            </details>
          )}
        </div>
        <div>
          <form class="card" onSubmit={start}>
            <h2>Analyse into questions</h2>
            <label>
              Title <input name="title" required value={meta.data?.filename ?? ""} />
            </label>
            <label>
              Questions <input name="num_questions" type="number" min={1} max={50} value={5} required />
            </label>
            <label>
              Keyframe every (s) <input name="keyframe_interval" type="number" min={1} max={600} value={10} required />
            </label>
            <button type="submit">Start analysis</button>
            <ErrorNote error={error} />
          </form>
        </div>
      </div>
      <h2>Analyses</h2>
      <ErrorNote error={analyses.error} />
      <ul class="cards" aria-label="Analyses">
        {analyses.data?.items.map((a) => (
          <li class="card" key={a.id} data-analysis={a.id} data-state={a.state}>
            <strong>{a.title}</strong> <span class="badge">{a.state}</span>{" "}
            <span class="muted">{fmtTime(a.createdAt)}</span>{" "}
            {(a.state === "waiting" || a.state === "active") && <Progress analysis={a} onEnd={analyses.reload} />}
            {a.state === "completed" && (
              <button
                type="button"
                class="link"
                aria-expanded={open === a.id}
                onClick={() => setOpen(open === a.id ? null : a.id)}
              >
                {open === a.id ? "Hide questions" : "Show questions"}
              </button>
            )}
            {open === a.id && <Questions analysis={a} seek={seek} />}
          </li>
        ))}
      </ul>
    </Page>
  );
}
