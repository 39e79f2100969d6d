import { useState } from "preact/hooks";
import { api } from "../api.ts";
import { ErrorNote, fmtTime, Page, useLoad } from "../ui.tsx";

interface User {
  id: string;
  username: string;
  role: string;
  createdAt: string;
}
interface BulkRow {
  line: number;
  id: string;
  status: "created" | "exists" | "error";
  reason?: string;
  password?: string;
}

function Users({ selfId }: { selfId: string }) {
  const users = useLoad(() => api<{ items: User[]; nextCursor: string | null }>("/api/v2/users?limit=200"));
  const [error, setError] = useState<unknown>(null);
  const act = async (path: string, method: string) => {
    try {
      setError(null);
      await api(path, { method });
      users.reload();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <section aria-labelledby="users-h">
      <h2 id="users-h">Users</h2>
      <ErrorNote error={users.error ?? error} />
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">User</th>
              <th scope="col">Role</th>
              <th scope="col">Created</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {users.data?.items.map((u) => (
              <tr key={u.id} data-user={u.username}>
                <th scope="row">{u.username}</th>
                <td>{u.role}</td>
                <td>{fmtTime(u.createdAt)}</td>
                <td class="row">
                  {u.role !== "admin" && (
                    <button
                      type="button"
                      class="secondary"
                      onClick={() => act(`/api/v2/users/${u.id}/promote`, "POST")}
                      aria-label={`Promote ${u.username} to admin`}
                    >
                      Promote
                    </button>
                  )}
                  {u.id !== selfId && (
                    <button
                      type="button"
                      class="secondary"
                      aria-label={`Delete ${u.username}`}
                      onClick={() =>
                        confirm(`Delete ${u.username} and everything they own?`) &&
                        act(`/api/v2/users/${u.id}`, "DELETE")
                      }
                    >
                      Delete
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function BulkMonitors() {
  const [report, setReport] = useState<{ results: BulkRow[]; created: number; exists: number; errors: number } | null>(
    null,
  );
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    const file = new FormData(e.target as HTMLFormElement).get("csv") as File | null;
    if (!file || file.size === 0) return setError(new Error("choose a CSV file"));
    try {
      setError(null);
      setReport(
        await api("/api/v2/monitors/bulk", {
          method: "POST",
          headers: { "Content-Type": "text/csv" },
          body: await file.text(),
        }),
      );
    } catch (err) {
      setError(err);
    }
  };
  return (
    <section aria-labelledby="bulk-h">
      <h2 id="bulk-h">Add monitors from a CSV</h2>
      <form class="card controls" onSubmit={submit}>
        <label>
          CSV file (rows id,owner,password; password "generate" makes one)
          <input type="file" name="csv" accept=".csv,text/csv" required />
        </label>
        <button type="submit">Upload</button>
      </form>
      <ErrorNote error={error} />
      {report && (
        <>
          <p role="status">
            {report.created} created · {report.exists} existed · {report.errors} errors
          </p>
          <div class="table-wrap">
            <table>
              <caption class="sr-only">Result per row</caption>
              <thead>
                <tr>
                  <th scope="col">Line</th>
                  <th scope="col">Monitor</th>
                  <th scope="col">Result</th>
                  <th scope="col">Generated password / reason</th>
                </tr>
              </thead>
              <tbody>
                {report.results.map((r) => (
                  <tr key={r.line}>
                    <td>{r.line}</td>
                    <td>{r.id}</td>
                    <td>{r.status}</td>
                    <td>{r.password ? <code>{r.password}</code> : (r.reason ?? "")}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  );
}

export default function Admin({ selfId }: { selfId: string }) {
  return (
    <Page title="Administration">
      <Users selfId={selfId} />
      <BulkMonitors />
    </Page>
  );
}
