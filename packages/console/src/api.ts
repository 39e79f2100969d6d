/**
 * The console's only way to the API. The access token lives in this module's memory (never in
 * storage); the refresh token lives in an HttpOnly cookie the page cannot read, which
 * `/console/refresh` turns into a new access token.
 */
const CSRF = { "X-Trellis-Console": "1" };

export interface Principal {
  userId: string;
  username?: string;
  role: string;
  kind?: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

let accessToken: string | null = null;
let refreshing: Promise<boolean> | null = null;
let refreshTimer: ReturnType<typeof setTimeout> | undefined;
const listeners = new Set<(signedIn: boolean) => void>();

export const onSession = (fn: (signedIn: boolean) => void) => {
  listeners.add(fn);
  return () => listeners.delete(fn);
};

function setToken(token: string | null, expiresIn = 0) {
  accessToken = token;
  clearTimeout(refreshTimer);
  // Refresh a minute before expiry, so EventSource URLs and requests carry a live token.
  if (token) refreshTimer = setTimeout(() => void refresh(), Math.max(5, expiresIn - 60) * 1000);
  for (const fn of listeners) fn(token !== null);
}

export const token = () => accessToken;

async function errorOf(res: Response): Promise<ApiError> {
  let body: { error?: { code?: string; message?: string; details?: Record<string, unknown> } } | undefined;
  try {
    body = await res.json();
  } catch {
    body = undefined;
  }
  const e = body?.error;
  return new ApiError(
    res.status,
    e?.code ?? `http_${res.status}`,
    e?.message ?? `${res.status} ${res.statusText}`,
    e?.details,
  );
}

async function session(path: string, body?: Record<string, string>) {
  const res = await fetch(path, {
    method: "POST",
    credentials: "same-origin",
    headers: body ? { ...CSRF, "Content-Type": "application/json" } : CSRF,
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  if (!res.ok) throw await errorOf(res);
  return res.status === 204 ? undefined : ((await res.json()) as { access_token: string; expires_in: number });
}

/** Password login; `{challenge}` when the account asks for a second factor. */
export async function login(username: string, password: string): Promise<{ challenge?: string }> {
  try {
    const t = await session("/console/session", { grant_type: "password", username, password });
    if (t) setToken(t.access_token, t.expires_in);
    return {};
  } catch (err) {
    if (err instanceof ApiError && err.code === "mfa_required" && typeof err.details?.challenge === "string") {
      return { challenge: err.details.challenge };
    }
    throw err;
  }
}

export async function loginSecondFactor(challenge: string, code: string, recovery: boolean) {
  const t = await session(
    "/console/session",
    recovery
      ? { grant_type: "urn:trellis:params:oauth:grant-type:mfa-recovery-code", challenge, recovery_code: code }
      : { grant_type: "urn:trellis:params:oauth:grant-type:mfa-otp", challenge, otp: code },
  );
  if (t) setToken(t.access_token, t.expires_in);
}

/** A fresh access token from the cookie; false when there is no console session. */
export function refresh(): Promise<boolean> {
  refreshing ??= session("/console/refresh")
    .then((t) => {
      if (t) setToken(t.access_token, t.expires_in);
      return true;
    })
    .catch((err) => {
      if (err instanceof ApiError && err.status === 401) setToken(null);
      return false;
    })
    .finally(() => {
      refreshing = null;
    });
  return refreshing;
}

export async function logout(everywhere = false) {
  try {
    if (everywhere && accessToken) await api("/api/v2/sessions?others=true", { method: "DELETE" });
    await session("/console/logout");
  } finally {
    setToken(null);
  }
}

/** A request with the access token; one refresh and retry on a 401. Errors carry the API's message. */
export async function request(path: string, init: RequestInit = {}, retry = true): Promise<Response> {
  const headers = new Headers(init.headers);
  if (accessToken) headers.set("Authorization", `Bearer ${accessToken}`);
  const res = await fetch(path, { ...init, headers });
  if (res.status === 401 && retry && (await refresh())) return request(path, init, false);
  if (!res.ok) throw await errorOf(res);
  return res;
}

// biome-ignore lint/suspicious/noExplicitAny: API bodies are read field by field by the pages
export async function api<T = any>(path: string, init: RequestInit & { json?: unknown } = {}): Promise<T> {
  const { json, ...rest } = init;
  const res = await request(
    path,
    json === undefined
      ? rest
      : { ...rest, body: JSON.stringify(json), headers: { ...rest.headers, "Content-Type": "application/json" } },
  );
  return (res.status === 204 ? undefined : await res.json()) as T;
}

/** Saves a response body as a file (the browser's download), e.g. a CSV export. */
export async function download(path: string, fallbackName: string) {
  const res = await request(path);
  const disposition = res.headers.get("content-disposition") ?? "";
  const name = /filename="?([^";]+)"?/.exec(disposition)?.[1] ?? fallbackName;
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/**
 * A Server-Sent Events stream with the token in the query (EventSource cannot send headers). When
 * the server ends it (an expired token, a drop), it is reopened with a fresh token from the last
 * event id, so nothing is missed. `close()` stops it.
 */
export function live(
  path: string,
  handlers: Record<string, (data: unknown, id: string) => void>,
  onState?: (state: "open" | "reconnecting" | "closed") => void,
): { close(): void } {
  let source: EventSource | undefined;
  let lastId = "";
  let closed = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const open = () => {
    if (closed) return;
    const q = new URLSearchParams({ access_token: accessToken ?? "" });
    if (lastId) q.set("lastEventId", lastId);
    const es = new EventSource(`${path}${path.includes("?") ? "&" : "?"}${q}`);
    source = es;
    es.onopen = () => onState?.("open");
    for (const [event, fn] of Object.entries(handlers)) {
      es.addEventListener(event, (e) => {
        const m = e as MessageEvent<string>;
        if (m.lastEventId) lastId = m.lastEventId;
        fn(JSON.parse(m.data), m.lastEventId);
      });
    }
    es.onerror = () => {
      if (es.readyState !== EventSource.CLOSED || closed) return;
      onState?.("reconnecting");
      timer = setTimeout(async () => {
        await refresh();
        open();
      }, 1000);
    };
  };
  open();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      source?.close();
      onState?.("closed");
    },
  };
}
