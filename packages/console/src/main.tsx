import "./style.css";
import { render } from "preact";
import { lazy, Suspense } from "preact/compat";
import { useEffect, useState } from "preact/hooks";
import { api, logout, onSession, type Principal, refresh } from "./api.ts";
// Operator pages are in the first load; teacher and learner pages are fetched when opened.
import { Alarms } from "./pages/alarms.tsx";
import { Login } from "./pages/login.tsx";
import { MonitorPage } from "./pages/monitor.tsx";
import { Monitors } from "./pages/monitors.tsx";
import { linkClick, navigate, usePath } from "./router.ts";

const Videos = lazy(() => import("./pages/videos.tsx"));
const VideoPage = lazy(() => import("./pages/video.tsx"));
const Quiz = lazy(() => import("./pages/quiz.tsx"));
const Admin = lazy(() => import("./pages/admin.tsx"));

function Routes({ path, me }: { path: string; me: Principal }) {
  const [, section = "", id] = path.split("/").map(decodeURIComponent);
  if (path === "/" || path === "/monitors") return <Monitors />;
  if (section === "monitors" && id) return <MonitorPage id={id} />;
  if (path === "/alarms") return <Alarms />;
  if (path === "/videos") return <Videos me={me} />;
  if (section === "videos" && id) return <VideoPage id={id} />;
  if (section === "quiz" && id) return <Quiz analysisId={id} />;
  if (path === "/admin" && me.role === "admin") return <Admin selfId={me.userId} />;
  return (
    <p>
      Nothing here. <a href="/console/monitors">Monitors</a>
    </p>
  );
}

const NAV = [
  ["/monitors", "Monitors"],
  ["/alarms", "Alarms"],
  ["/videos", "Videos"],
] as const;

function App() {
  const path = usePath();
  const [me, setMe] = useState<Principal | null | undefined>(undefined);
  // In-app links navigate without a reload (a click, or Enter on a focused link, is a click event).
  useEffect(() => {
    document.addEventListener("click", linkClick);
    return () => document.removeEventListener("click", linkClick);
  }, []);
  useEffect(() => {
    const load = async (signedIn: boolean) => setMe(signedIn ? await api<Principal>("/api/v2/me") : null);
    const off = onSession((signedIn) => {
      if (!signedIn) setMe(null);
    });
    refresh().then(load, () => setMe(null));
    return off;
  }, []);
  if (me === undefined)
    return (
      <main class="boot" aria-busy="true">
        <p>Loading…</p>
      </main>
    );
  if (me === null)
    return (
      <Login
        onDone={async () => {
          setMe(await api<Principal>("/api/v2/me"));
          if (path === "/") navigate("/monitors", true);
        }}
      />
    );
  const section = `/${path.split("/")[1] ?? ""}`;
  return (
    <div class="shell">
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="bar">
        <a class="brand" href="/console/monitors">
          Trellis
        </a>
        <nav aria-label="Main">
          {[...NAV, ...(me.role === "admin" ? ([["/admin", "Admin"]] as const) : [])].map(([href, label]) => (
            <a href={`/console${href}`} aria-current={section === href ? "page" : undefined}>
              {label}
            </a>
          ))}
        </nav>
        <span class="who">
          {me.username ?? me.userId} <small>({me.role})</small>
        </span>
        <button type="button" onClick={() => logout()}>
          Log out
        </button>
        <button type="button" class="secondary" onClick={() => logout(true)}>
          Log out everywhere
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        <Suspense fallback={<p aria-busy="true">Loading…</p>}>
          <Routes path={path} me={me} />
        </Suspense>
      </main>
    </div>
  );
}

render(<App />, document.getElementById("app") as HTMLElement);
