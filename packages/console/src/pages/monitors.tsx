import { api } from "../api.ts";
import { ErrorNote, fmtNum, fmtTime, Page, useLoad } from "../ui.tsx";

interface Monitor {
  id: string;
  online: boolean;
  lastSeen: string | null;
  readingsStored: number;
}
type Latest = { values: Record<string, { value: number; at: number }> };

export function Monitors() {
  const { data, error, loading, reload } = useLoad(async () => {
    const page = await api<{ items: Monitor[] }>("/api/v2/monitors?limit=100");
    const latest = await Promise.all(
      page.items.map((m) =>
        api<Latest>(`/api/v2/monitors/${encodeURIComponent(m.id)}/readings/latest`).catch(() => null),
      ),
    );
    return page.items.map((m, i) => ({ ...m, latest: latest[i]?.values ?? {} }));
  });
  return (
    <Page
      title="Monitors"
      actions={
        <button type="button" onClick={reload} disabled={loading}>
          Refresh
        </button>
      }
    >
      <ErrorNote error={error} />
      {data && data.length === 0 && <p>No monitors yet.</p>}
      {data && data.length > 0 && (
        <div class="table-wrap">
          <table>
            <caption class="sr-only">Monitors with their state and last reading</caption>
            <thead>
              <tr>
                <th scope="col">Monitor</th>
                <th scope="col">State</th>
                <th scope="col">Last seen</th>
                <th scope="col">Last reading</th>
              </tr>
            </thead>
            <tbody>
              {data.map((m) => (
                <tr key={m.id}>
                  <th scope="row">
                    <a href={`/console/monitors/${encodeURIComponent(m.id)}`}>{m.id}</a>
                  </th>
                  <td>
                    <span class={`badge ${m.online ? "ok" : "off"}`}>{m.online ? "online" : "offline"}</span>
                  </td>
                  <td>{fmtTime(m.lastSeen)}</td>
                  <td class="values">
                    {Object.entries(m.latest)
                      .map(([k, v]) => `${k} ${fmtNum(v.value)}`)
                      .join(" · ") || "—"}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Page>
  );
}
