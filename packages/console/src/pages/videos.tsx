import { useEffect, useRef, useState } from "preact/hooks";
import * as tus from "tus-js-client";
import { api, type Principal, request, token } from "../api.ts";
import { ErrorNote, fmtTime, Page, useLoad } from "../ui.tsx";

interface Video {
  id: string;
  filename: string;
  size: number;
  durationMs: number | null;
  createdAt: string;
  hasTranscript: boolean;
}

const transcriptType = (name: string) =>
  name.endsWith(".vtt") ? "text/vtt" : name.endsWith(".srt") ? "application/x-subrip" : "text/plain";

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

/**
 * Uploads tus-js-client remembers as unfinished (their URLs only, in localStorage), so a reload
 * tells the teacher which file to choose again to go on from where it stopped.
 */
function Interrupted({ version }: { version: number }) {
  const [items, setItems] = useState<tus.PreviousUpload[]>([]);
  const storage = tus.defaultOptions.urlStorage;
  const load = () => storage.findAllUploads().then(setItems, () => setItems([]));
  useEffect(() => void load(), [version]);
  if (items.length === 0) return null;
  return (
    <div class="interrupted" role="note">
      <p>Unfinished uploads: choose the same file again to resume where it stopped.</p>
      <ul>
        {items.map((u) => (
          <li key={u.urlStorageKey}>
            {u.metadata.filename ?? "a file"} ({u.size === null ? "?" : mb(u.size)}, started{" "}
            {new Date(u.creationTime).toLocaleString()}){" "}
            <button
              type="button"
              class="link"
              onClick={() => storage.removeUpload(u.urlStorageKey).then(load)}
              aria-label={`Forget the unfinished upload of ${u.metadata.filename ?? "a file"}`}
            >
              Forget
            </button>
          </li>
        ))}
      </ul>
    </div>
  );
}

function Upload({ onDone }: { onDone: () => void }) {
  const [progress, setProgress] = useState<number | null>(null);
  const [status, setStatus] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [paused, setPaused] = useState(false);
  const [running, setRunning] = useState(false);
  const [remembered, setRemembered] = useState(0);
  const upload = useRef<tus.Upload | null>(null);

  const start = async (e: Event) => {
    e.preventDefault();
    const form = new FormData(e.target as HTMLFormElement);
    const file = form.get("file") as File | null;
    const transcript = form.get("transcript") as File | null;
    if (!file || file.size === 0) return setError(new Error("choose a video file"));
    setError(null);
    const up = new tus.Upload(file, {
      endpoint: "/api/v2/uploads",
      metadata: { filename: file.name },
      chunkSize: 1024 * 1024,
      retryDelays: [0, 1000, 3000, 5000],
      // tus-js-client remembers unfinished uploads by file fingerprint (their URLs only, in
      // localStorage): choosing the same file after a reload resumes where it stopped.
      storeFingerprintForResuming: true,
      removeFingerprintOnSuccess: true,
      onBeforeRequest: (req) => {
        req.setHeader("Authorization", `Bearer ${token()}`);
      },
      onProgress: (sent, total) => setProgress(total ? sent / total : 0),
      onAfterResponse: (req, res) => {
        // A resumed upload asks the server how much it holds (HEAD) and goes on from there.
        const offset = Number(res.getHeader("Upload-Offset"));
        if (req.getMethod() === "HEAD" && res.getStatus() === 200 && offset >= 0) {
          setStatus(`resumed at ${mb(offset)} of ${mb(file.size)} (the server had the rest before)`);
          setProgress(offset / file.size);
        }
      },
      onUploadUrlAvailable: () => setRemembered((n) => n + 1),
      onError: (err) => {
        setRunning(false);
        const body = (err as tus.DetailedError).originalResponse?.getBody();
        let message = err.message;
        try {
          message = JSON.parse(body ?? "").error.message ?? message;
        } catch {}
        setError(new Error(message));
        setStatus("failed");
      },
      onSuccess: async () => {
        setRunning(false);
        setRemembered((n) => n + 1);
        const id = up.url?.split("/").pop() ?? "";
        try {
          if (transcript && transcript.size > 0) {
            setStatus("uploading the transcript");
            await request(`/api/v2/videos/${encodeURIComponent(id)}/transcript`, {
              method: "PUT",
              headers: { "Content-Type": transcriptType(transcript.name) },
              body: await transcript.text(),
            });
          }
          setStatus("done");
          onDone();
        } catch (err) {
          setError(err);
        }
      },
    });
    upload.current = up;
    const previous = await up.findPreviousUploads();
    if (previous[0]) {
      up.resumeFromPreviousUpload(previous[0]);
      setStatus("resuming an earlier upload of this file");
    } else setStatus("uploading");
    setPaused(false);
    setRunning(true);
    up.start();
  };

  return (
    <form class="card upload" onSubmit={start}>
      <h2>Upload a video</h2>
      <label>
        Video file
        <input type="file" name="file" accept="video/*" required />
      </label>
      <label>
        Transcript (optional: .vtt, .srt or text)
        <input type="file" name="transcript" accept=".vtt,.srt,.txt,text/plain,text/vtt" />
      </label>
      <div class="row">
        <button type="submit">Upload</button>
        {upload.current && running && (
          <button
            type="button"
            class="secondary"
            onClick={() => {
              if (paused) upload.current?.start();
              else void upload.current?.abort();
              setPaused(!paused);
            }}
          >
            {paused ? "Resume" : "Pause"}
          </button>
        )}
      </div>
      {progress !== null && (
        <div>
          <progress max={1} value={progress} aria-label="Upload progress" />{" "}
          <span data-testid="upload-percent">{Math.round(progress * 100)}%</span>{" "}
          <span class="muted" data-testid="upload-status">
            {status}
          </span>
        </div>
      )}
      <ErrorNote error={error} />
      <Interrupted version={remembered} />
    </form>
  );
}

export default function Videos({ me }: { me: Principal }) {
  const { data, error, reload } = useLoad(() =>
    api<{ items: Video[] }>(`/api/v2/videos?user_id=${me.userId}&limit=100`),
  );
  return (
    <Page title="Videos">
      <Upload onDone={reload} />
      <ErrorNote error={error} />
      {data && data.items.length === 0 && <p>No videos yet.</p>}
      {data && data.items.length > 0 && (
        <ul class="cards" aria-label="Videos">
          {data.items.map((v) => (
            <li class="card" key={v.id}>
              <a href={`/console/videos/${v.id}`}>{v.filename}</a>
              <div class="muted">
                {(v.size / 1e6).toFixed(1)} MB · {v.durationMs ? `${(v.durationMs / 1000).toFixed(0)} s` : "—"} ·{" "}
                {v.hasTranscript ? "transcript" : "no transcript"} · {fmtTime(v.createdAt)}
              </div>
            </li>
          ))}
        </ul>
      )}
    </Page>
  );
}
