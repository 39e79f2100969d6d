import { useEffect, useState } from "preact/hooks";

/** History routing under /console/: paths like `/monitors/abc` (without the base). */
export const BASE = "/console";

export function currentPath(): string {
  const p = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) : location.pathname;
  return p === "" ? "/" : p;
}

export function navigate(path: string, replace = false) {
  if (replace) history.replaceState(null, "", BASE + path);
  else history.pushState(null, "", BASE + path);
  dispatchEvent(new PopStateEvent("popstate"));
}

export function usePath(): string {
  const [path, setPath] = useState(currentPath());
  useEffect(() => {
    const on = () => setPath(currentPath());
    addEventListener("popstate", on);
    return () => removeEventListener("popstate", on);
  }, []);
  return path;
}

/** A click on an in-app link navigates without reloading. */
export function linkClick(e: MouseEvent) {
  const a = (e.target as Element).closest("a");
  if (!a || a.target || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  const href = a.getAttribute("href");
  if (!href?.startsWith(`${BASE}/`)) return;
  e.preventDefault();
  navigate(href.slice(BASE.length));
}
