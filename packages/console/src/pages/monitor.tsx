import { useEffect, useRef, useState } from "preact/hooks";
import type uPlot from "uplot";
// Not from @trellis/contracts: its index would bundle zod and every schema into the console.
import { MEASUREMENTS } from "../../../contracts/src/telemetry-constants.ts";
import { api, download, live } from "../api.ts";
import { historyChart, LiveChart } from "../chart.ts";
import { ErrorNote, fmtTime, Page } from "../ui.tsx";
import { AlarmRules, Commands } from "./monitor-admin.tsx";

const RANGES = { "1h": 3600e3, "6h": 6 * 3600e3, "24h": 24 * 3600e3, "7d": 7 * 24 * 3600e3 } as const;
const INTERVALS = { "1h": "1m", "6h": "5m", "24h": "15m", "7d": "1h" } as const;

declare global {
  interface Window {
    /** The live chart's counters, read by the browser tests and the frame-rate measurement. */
    __liveChart?: LiveChart;
  }
}

function LiveView({ id }: { id: string }) {
  const box = useRef<HTMLDivElement>(null);
  const [state, setState] = useState("connecting");
  const [count, setCount] = useState(0);
  useEffect(() => {
    let chart: LiveChart | undefined;
    let shown = 0;
    const tick = setInterval(() => {
      if (chart && shown !== chart.points) {
        shown = chart.points;
        setCount(shown);
      }
    }, 500);
    const stream = live(
      `/api/v2/monitors/${encodeURIComponent(id)}/live`,
      {
        reading: (d) => {
          const r = d as { at: number; values: Record<string, number> };
          if (!chart && box.current) {
            const names = MEASUREMENTS.filter((m) => m in r.values);
            box.current.textContent = "";
            chart = new LiveChart(box.current, names.length ? names : Object.keys(r.values));
            window.__liveChart = chart;
          }
          chart?.push(r.at, r.values);
        },
      },
      setState,
    );
    const onResize = () => box.current && chart?.resize(box.current.clientWidth);
    addEventListener("resize", onResize);
    return () => {
      stream.close();
      clearInterval(tick);
      removeEventListener("resize", onResize);
      chart?.destroy();
      window.__liveChart = undefined;
    };
  }, [id]);
  return (
    <section aria-labelledby="live-h">
      <h2 id="live-h">
        Live <small class={`badge ${state === "open" ? "ok" : "off"}`}>{state}</small>
      </h2>
      <p aria-live="polite" class="muted" data-testid="live-count">
        {count} readings received
      </p>
      <div ref={box} class="chart" data-testid="live-chart">
        <p class="muted">Waiting for readings…</p>
      </div>
    </section>
  );
}

interface Column {
  measurement: string;
  aggregate: string;
  points: { start: number; value: number | null }[];
}

function HistoryView({ id }: { id: string }) {
  const box = useRef<HTMLDivElement>(null);
  const [range, setRange] = useState<keyof typeof RANGES>("1h");
  const [aggregate, setAggregate] = useState("avg");
  const [fill, setFill] = useState("null");
  const [picked, setPicked] = useState<string[]>(["ph", "reservoir_temp"]);
  const [error, setError] = useState<unknown>(null);
  const [empty, setEmpty] = useState(false);
  useEffect(() => {
    let plot: uPlot | undefined;
    let stale = false;
    const to = Date.now();
    const from = to - RANGES[range];
    const q = new URLSearchParams({
      measurements: picked.map((m) => `${m}:${aggregate}`).join(","),
      interval: INTERVALS[range],
      fill,
      from: String(from),
      to: String(to),
    });
    setError(null);
    if (picked.length === 0) return;
    api<{ series: Column[] }>(`/api/v2/monitors/${encodeURIComponent(id)}/series?${q}`).then(
      (r) => {
        if (stale || !box.current) return;
        const xs = [...new Set(r.series.flatMap((s) => s.points.map((p) => p.start)))].sort((a, b) => a - b);
        setEmpty(xs.length === 0);
        box.current.textContent = "";
        const cols = r.series.map((s) => {
          const by = new Map(s.points.map((p) => [p.start, p.value]));
          return { label: `${s.measurement} ${s.aggregate}`, values: xs.map((x) => by.get(x) ?? null) };
        });
        plot = historyChart(
          box.current,
          xs.map((x) => x / 1000),
          cols,
        );
      },
      (err) => !stale && setError(err),
    );
    return () => {
      stale = true;
      plot?.destroy();
    };
  }, [id, range, aggregate, fill, picked.join(",")]);
  return (
    <section aria-labelledby="hist-h">
      <h2 id="hist-h">History</h2>
      <div class="controls">
        <label>
          Range
          <select
            value={range}
            onChange={(e) => setRange((e.target as HTMLSelectElement).value as keyof typeof RANGES)}
          >
            {Object.keys(RANGES).map((r) => (
              <option value={r}>{r}</option>
            ))}
          </select>
        </label>
        <label>
          Aggregate
          <select value={aggregate} onChange={(e) => setAggregate((e.target as HTMLSelectElement).value)}>
            {["avg", "min", "max", "count", "sum", "stddev", "last"].map((a) => (
              <option value={a}>{a}</option>
            ))}
          </select>
        </label>
        <label>
          Gaps
          <select value={fill} onChange={(e) => setFill((e.target as HTMLSelectElement).value)}>
            {["null", "none", "previous", "linear"].map((f) => (
              <option value={f}>{f}</option>
            ))}
          </select>
        </label>
        <fieldset>
          <legend>Measurements</legend>
          {MEASUREMENTS.map((m) => (
            <label class="check">
              <input
                type="checkbox"
                checked={picked.includes(m)}
                onChange={(e) =>
                  setPicked((e.target as HTMLInputElement).checked ? [...picked, m] : picked.filter((x) => x !== m))
                }
              />
              {m}
            </label>
          ))}
        </fieldset>
        <button
          type="button"
          onClick={() =>
            download(
              `/api/v2/monitors/${encodeURIComponent(id)}/readings.csv?from=${Date.now() - RANGES[range]}&to=${Date.now()}`,
              `${id}.csv`,
            ).catch(setError)
          }
        >
          Download CSV
        </button>
      </div>
      <ErrorNote error={error} />
      {empty && <p class="muted">No readings in this window.</p>}
      <div ref={box} class="chart" data-testid="history-chart" />
    </section>
  );
}

export function MonitorPage({ id }: { id: string }) {
  const [info, setInfo] = useState<{ online: boolean; lastSeen: string | null } | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    api(`/api/v2/monitors/${encodeURIComponent(id)}`).then(setInfo, setError);
  }, [id]);
  return (
    <Page title={`Monitor ${id}`}>
      <ErrorNote error={error} />
      {info && (
        <p>
          <span class={`badge ${info.online ? "ok" : "off"}`}>{info.online ? "online" : "offline"}</span> last seen{" "}
          {fmtTime(info.lastSeen)} · <a href={`/console/alarms?monitor=${encodeURIComponent(id)}`}>alarms</a>
        </p>
      )}
      <LiveView id={id} />
      <HistoryView id={id} />
      <AlarmRules id={id} />
      <Commands id={id} />
    </Page>
  );
}
