import { useEffect, useRef, useState } from "preact/hooks";
import { api, download, live, request } from "../api.ts";
import { mediaAuth } from "../media.ts";
import { ErrorNote, fmtTime, Page, useLoad } from "../ui.tsx";

interface Analysis {
  id: string;
  title: string;
  state: string;
  progress?: { stage: string; percent: number } | null;
  shared?: boolean;
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

export const clock = (ms: number) => {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
};

/** A <video> of the API's content route: Range requests through the media service worker. */
export function Player({ videoId, video }: { videoId: string; video: { current: HTMLVideoElement | null } }) {
  const [ok, setOk] = useState<boolean | null>(null);
  useEffect(() => {
    mediaAuth().then(setOk);
  }, []);
  if (ok === null) return <div class="player placeholder" aria-busy="true" />;
  if (!ok) return <p class="error">This browser cannot play protected videos here (no service worker).</p>;
  return (
    // biome-ignore lint/a11y/useMediaCaption: the transcript is shown beside the player
    <video
      ref={(el) => {
        video.current = el;
      }}
      class="player"
      controls
      preload="metadata"
      src={`/api/v2/videos/${encodeURIComponent(videoId)}/content`}
      data-testid="player"
    />
  );
}

function Progress({ analysis, onEnd }: { analysis: Analysis; onEnd: () => void }) {
  const [p, setP] = useState(analysis.progress ?? { stage: "waiting", percent: 0 });
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
      <span data-testid="analysis-progress">
        {p.stage} {Math.round(p.percent)}%
      </span>{" "}
      <button
        type="button"
        class="secondary"
        onClick={() => api(`/api/v2/analyses/${analysis.id}/cancel`, { method: "POST" }).then(onEnd)}
      >
        Cancel
      </button>
    </div>
  );
}

function Questions({ analysis, seek }: { analysis: Analysis; seek: (ms: number) => void }) {
  const { data, error } = useLoad(
    () => api<{ items: Question[] }>(`/api/v2/analyses/${analysis.id}/questions`),
    [analysis.id],
  );
  const [shared, setShared] = useState(Boolean(analysis.shared));
  const [err, setErr] = useState<unknown>(null);
  const quizUrl = `${location.origin}/console/quiz/${analysis.id}`;
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
        <button
          type="button"
          onClick={() =>
            api(`/api/v2/analyses/${analysis.id}`, { method: "PATCH", json: { shared: !shared } }).then(
              () => setShared(!shared),
              setErr,
            )
          }
        >
          {shared ? "Stop sharing" : "Share with learners"}
        </button>
      </div>
      {shared && (
        <p>
          Learners open: <a href={`/console/quiz/${analysis.id}`}>{quizUrl}</a>
        </p>
      )}
      <ErrorNote error={error ?? err} />
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
          <Player videoId={id} video={video} />
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
