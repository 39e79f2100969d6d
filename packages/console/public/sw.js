// The console's service worker: <video> and <img> cannot send Authorization, so for the API's
// media routes (video content with Range for seeking, a shared analysis's video for learners,
// keyframe pictures) it adds the page's
// access token, which the page posts here (kept in this worker's memory only, never stored).
// Anything else passes through untouched; nothing is cached.
let token = null;
self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (e) => e.waitUntil(self.clients.claim()));
self.addEventListener("message", (e) => {
  if (e.data && e.data.type === "token") token = e.data.token;
});
const MEDIA = /^\/api\/v2\/(videos\/[^/]+\/content|analyses\/[^/]+\/video|pictures\/[^/]+\/(content|thumbnail))$/;
self.addEventListener("fetch", (e) => {
  const url = new URL(e.request.url);
  if (url.origin !== self.location.origin || !MEDIA.test(url.pathname) || !token) return;
  if (e.request.method !== "GET" && e.request.method !== "HEAD") return;
  const headers = new Headers(e.request.headers);
  headers.set("Authorization", `Bearer ${token}`);
  e.respondWith(fetch(new Request(e.request, { headers, mode: "same-origin", credentials: "omit" })));
});
