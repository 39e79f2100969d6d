import { onSession, token } from "./api.ts";

/**
 * Registers the service worker that authenticates <video>/<img> requests to the API's media routes
 * (see public/sw.js) and keeps it supplied with the current access token. Resolves once the page is
 * controlled, so media elements rendered after it are authenticated.
 */
let ready: Promise<boolean> | undefined;
export function mediaAuth(): Promise<boolean> {
  ready ??= (async () => {
    if (!("serviceWorker" in navigator)) return false;
    await navigator.serviceWorker.register("/console/sw.js", { scope: "/console/" });
    await navigator.serviceWorker.ready;
    if (!navigator.serviceWorker.controller) {
      await new Promise<void>((resolve) =>
        navigator.serviceWorker.addEventListener("controllerchange", () => resolve(), { once: true }),
      );
    }
    const post = () => navigator.serviceWorker.controller?.postMessage({ type: "token", token: token() });
    post();
    onSession(post);
    navigator.serviceWorker.addEventListener("controllerchange", post);
    setInterval(post, 30_000);
    return true;
  })().catch(() => false);
  return ready;
}
