import { useEffect, useState } from "preact/hooks";
import { api, live } from "../api.ts";
import { ErrorNote, fmtNum, fmtTime, Page } from "../ui.tsx";

interface Alarm {
  id: string;
  kind: string;
  monitor_id: string;
  measurement: string | null;
  condition: string | null;
  threshold: number | { low: number; high: number } | null;
  state: "active" | "acknowledged" | "cleared";
  value: number;
  raised_at: string;
}

const threshold = (a: Alarm) =>
  a.kind === "offline"
    ? `offline for ${fmtNum(a.value)} s`
    : `${a.measurement} ${a.condition} ${typeof a.threshold === "number" ? a.threshold : `${a.threshold?.low}–${a.threshold?.high}`} (was ${fmtNum(a.value)})`;

export function Alarms() {
  const monitor = new URLSearchParams(location.search).get("monitor") ?? "";
  const [state, setState] = useState("");
  const [alarms, setAlarms] = useState<Alarm[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [n, setN] = useState(0);
  useEffect(() => {
    const q = new URLSearchParams({ limit: "100" });
    if (state) q.set("state", state);
    if (monitor) q.set("monitor_id", monitor);
    api<{ items: Alarm[] }>(`/api/v2/alarms?${q}`).then((r) => setAlarms(r.items), setError);
  }, [state, monitor, n]);
  // Live updates: any alarm event of the caller's monitors reloads the list.
  useEffect(() => {
    let t: ReturnType<typeof setTimeout> | undefined;
    const s = live("/api/v2/live", {
      alarm: () => {
        clearTimeout(t);
        t = setTimeout(() => setN((x) => x + 1), 200);
      },
    });
    return () => {
      clearTimeout(t);
      s.close();
    };
  }, []);
  const ack = async (id: string) => {
    try {
      await api(`/api/v2/alarms/${encodeURIComponent(id)}/ack`, { method: "POST" });
      setN((x) => x + 1);
    } catch (err) {
      setError(err);
    }
  };
  return (
    <Page title={monitor ? `Alarms of ${monitor}` : "Alarms"}>
      <div class="controls">
        <label>
          State
          <select value={state} onChange={(e) => setState((e.target as HTMLSelectElement).value)}>
            <option value="">any</option>
            <option value="active">active</option>
            <option value="acknowledged">acknowledged</option>
            <option value="cleared">cleared</option>
          </select>
        </label>
      </div>
      <ErrorNote error={error} />
      {alarms && alarms.length === 0 && <p>No alarms.</p>}
      {alarms && alarms.length > 0 && (
        <ul class="cards" aria-label="Alarms">
          {alarms.map((a) => (
            <li key={a.id} class={`card alarm-${a.state}`} data-alarm={a.id}>
              <div>
                <strong>
                  <a href={`/console/monitors/${encodeURIComponent(a.monitor_id)}`}>{a.monitor_id}</a>
                </strong>{" "}
                <span class={`badge ${a.state === "active" ? "bad" : a.state === "cleared" ? "ok" : "warn"}`}>
                  {a.state}
                </span>
              </div>
              <div>{threshold(a)}</div>
              <div class="muted">raised {fmtTime(a.raised_at)}</div>
              {a.state === "active" && (
                <button type="button" onClick={() => ack(a.id)} aria-label={`Acknowledge alarm ${a.id}`}>
                  Acknowledge
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
    </Page>
  );
}
