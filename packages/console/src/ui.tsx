import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ApiError } from "./api.ts";

export function ErrorNote({ error }: { error: unknown }) {
  if (!error) return null;
  const text =
    error instanceof ApiError
      ? `${error.message} (${error.status} ${error.code})`
      : error instanceof Error
        ? error.message
        : String(error);
  return (
    <p class="error" role="alert">
      {text}
    </p>
  );
}

/** Loads once per key; `reload()` runs it again. */
export function useLoad<T>(load: () => Promise<T>, key: unknown[] = []) {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const [n, setN] = useState(0);
  useEffect(() => {
    let stale = false;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => !stale && setState({ data, loading: false }),
      (error) => !stale && setState({ error, loading: false }),
    );
    return () => {
      stale = true;
    };
  }, [...key, n]);
  return { ...state, reload: () => setN((x) => x + 1) };
}

export function Page({
  title,
  children,
  actions,
}: {
  title: string;
  children: ComponentChildren;
  actions?: ComponentChildren;
}) {
  useEffect(() => {
    document.title = `${title} · Trellis`;
  }, [title]);
  return (
    <>
      <div class="page-head">
        <h1>{title}</h1>
        {actions}
      </div>
      {children}
    </>
  );
}

export const fmtTime = (v: string | number | null | undefined) => (v == null ? "—" : new Date(v).toLocaleString());
export const fmtNum = (v: number | null | undefined) =>
  v == null ? "—" : Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2);
