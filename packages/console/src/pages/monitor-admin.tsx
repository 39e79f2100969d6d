import { useState } from "preact/hooks";
// Not from @trellis/contracts: its index would bundle zod and every schema into the console.
import { MEASUREMENTS } from "../../../contracts/src/telemetry-constants.ts";
import { api } from "../api.ts";
import { ErrorNote, fmtTime, useLoad } from "../ui.tsx";

interface Rule {
  id: string;
  measurement: string;
  condition: "above" | "below" | "outside";
  threshold: number | { low: number; high: number };
  for_seconds: number;
  hysteresis: number;
}

const describe = (r: Rule) =>
  `${r.measurement} ${r.condition} ${typeof r.threshold === "number" ? r.threshold : `${r.threshold.low}–${r.threshold.high}`}` +
  (r.for_seconds ? ` for ${r.for_seconds} s` : "") +
  (r.hysteresis ? `, hysteresis ${r.hysteresis}` : "");

/** Alarm rules of a monitor: list, create, edit (replace), delete. */
export function AlarmRules({ id }: { id: string }) {
  const path = `/api/v2/monitors/${encodeURIComponent(id)}/alarm-rules`;
  const rules = useLoad(() => api<{ items: Rule[] }>(path), [id]);
  const [condition, setCondition] = useState("above");
  const [editing, setEditing] = useState<Rule | null>(null);
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    const form = e.target as HTMLFormElement;
    const f = new FormData(form);
    const num = (k: string) => Number(f.get(k));
    try {
      setError(null);
      await api(path, {
        method: "POST",
        json: {
          measurement: f.get("measurement"),
          condition,
          threshold: condition === "outside" ? { low: num("low"), high: num("high") } : num("threshold"),
          for_seconds: num("for_seconds"),
          hysteresis: num("hysteresis"),
        },
      });
      // Editing replaces the rule: the new one is in place before the old one goes.
      if (editing) await api(`/api/v2/alarm-rules/${encodeURIComponent(editing.id)}`, { method: "DELETE" });
      setEditing(null);
      form.reset();
      rules.reload();
    } catch (err) {
      setError(err);
    }
  };
  const remove = async (rule: Rule) => {
    try {
      await api(`/api/v2/alarm-rules/${encodeURIComponent(rule.id)}`, { method: "DELETE" });
      rules.reload();
    } catch (err) {
      setError(err);
    }
  };
  const t = editing?.threshold;
  return (
    <section aria-labelledby="rules-h">
      <h2 id="rules-h">Alarm rules</h2>
      <ErrorNote error={rules.error} />
      {rules.data && rules.data.items.length === 0 && <p class="muted">No rules.</p>}
      <ul class="cards" aria-label="Alarm rules">
        {rules.data?.items.map((r) => (
          <li class="card row" key={r.id} data-rule={r.id}>
            <span>{describe(r)}</span>
            <button
              type="button"
              class="secondary"
              onClick={() => {
                setEditing(r);
                setCondition(r.condition);
              }}
            >
              Edit
            </button>
            <button type="button" class="secondary" onClick={() => remove(r)} aria-label={`Delete rule ${describe(r)}`}>
              Delete
            </button>
          </li>
        ))}
      </ul>
      <form
        class="card controls"
        onSubmit={submit}
        key={editing?.id ?? "new"}
        aria-label={editing ? "Edit rule" : "New rule"}
      >
        <label>
          Measurement
          <select name="measurement" value={editing?.measurement}>
            {MEASUREMENTS.map((m) => (
              <option value={m}>{m}</option>
            ))}
          </select>
        </label>
        <label>
          Condition
          <select value={condition} onChange={(e) => setCondition((e.target as HTMLSelectElement).value)}>
            <option value="above">above</option>
            <option value="below">below</option>
            <option value="outside">outside</option>
          </select>
        </label>
        {condition === "outside" ? (
          <>
            <label>
              Low{" "}
              <input name="low" type="number" step="any" required value={typeof t === "object" ? t.low : undefined} />
            </label>
            <label>
              High{" "}
              <input name="high" type="number" step="any" required value={typeof t === "object" ? t.high : undefined} />
            </label>
          </>
        ) : (
          <label>
            Threshold{" "}
            <input name="threshold" type="number" step="any" required value={typeof t === "number" ? t : undefined} />
          </label>
        )}
        <label>
          For (s) <input name="for_seconds" type="number" min={0} max={86400} value={editing?.for_seconds ?? 0} />
        </label>
        <label>
          Hysteresis <input name="hysteresis" type="number" min={0} step="any" value={editing?.hysteresis ?? 0} />
        </label>
        <button type="submit">{editing ? "Save rule" : "Add rule"}</button>
        {editing && (
          <button type="button" class="secondary" onClick={() => setEditing(null)}>
            Cancel
          </button>
        )}
      </form>
      <ErrorNote error={error} />
    </section>
  );
}

interface Command {
  id: string;
  name: string;
  state: string;
  createdAt: string;
  result?: unknown;
  error: string | null;
}

/** Commands to the monitor's device: send one (waiting for its answer), see recent ones. */
export function Commands({ id }: { id: string }) {
  const path = `/api/v2/monitors/${encodeURIComponent(id)}/commands`;
  const list = useLoad(() => api<{ items: Command[] }>(`${path}?limit=10`), [id]);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const send = async (e: Event) => {
    e.preventDefault();
    const f = new FormData(e.target as HTMLFormElement);
    let params: unknown = {};
    try {
      setError(null);
      const raw = String(f.get("params") ?? "").trim();
      params = raw ? JSON.parse(raw) : {};
    } catch {
      return setError(new Error('parameters must be JSON, e.g. {"reference": 7}'));
    }
    setBusy(true);
    try {
      await api(`${path}?wait=true`, { method: "POST", json: { name: f.get("name"), params } });
      list.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="commands-h">
      <h2 id="commands-h">Commands</h2>
      <form class="card controls" onSubmit={send}>
        <label>
          Command <input name="name" required placeholder="calibrate_ph" />
        </label>
        <label>
          Parameters (JSON) <input name="params" placeholder="{}" />
        </label>
        <button type="submit" disabled={busy}>
          Send
        </button>
      </form>
      <ErrorNote error={error ?? list.error} />
      <ul class="cards" aria-label="Recent commands">
        {list.data?.items.map((c) => (
          <li class="card" key={c.id} data-command={c.id}>
            <strong>{c.name}</strong> <span class="badge">{c.state}</span>{" "}
            <span class="muted">{fmtTime(c.createdAt)}</span>
            {c.result !== undefined && <pre class="transcript">{JSON.stringify(c.result)}</pre>}
            {c.error && <div class="error">{c.error}</div>}
          </li>
        ))}
      </ul>
    </section>
  );
}
