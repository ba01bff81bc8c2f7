// Merpati's service worker: keeps the app itself (index.html, JS, WASM, CSS) on the device so
// that a reload works with no server at all — the history is in IndexedDB already, and
// messages written offline wait in the outbox. It never touches /ws or the server's API.
const CACHE = "merpati-app-v1";

// The app's files: index.html and everything it links (trunk gives them hashed names).
async function cacheApp() {
  const response = await fetch("/", { cache: "no-store" });
  if (!response.ok) return;
  const html = await response.clone().text();
  // Attribute values may come quoted or not (trunk minifies index.html).
  const assets = [...html.matchAll(/(?:href|src)=["']?(\/[^"'\s>]+)/g)].map((match) => match[1]);
  const cache = await caches.open(CACHE);
  await cache.put("/", response);
  await cache.addAll(assets.filter((url) => !url.startsWith("/ws")));
}

self.addEventListener("install", (event) => {
  event.waitUntil(cacheApp().then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(self.clients.claim());
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname === "/ws" || url.pathname === "/healthz" || url.pathname === "/metrics") return;

  if (request.mode === "navigate") {
    // Network first, so a new release shows up; the cached app when the server is away.
    event.respondWith(
      fetch(request)
        .then((response) => {
          if (response.ok) {
            caches.open(CACHE).then((cache) => cache.put("/", response.clone()));
          }
          return response;
        })
        .catch(() => caches.match("/")),
    );
    return;
  }

  // Hashed assets never change under one name: the cached copy is the right one.
  event.respondWith(
    caches.match(request).then(
      (cached) =>
        cached ||
        fetch(request).then((response) => {
          if (response.ok) {
            const copy = response.clone();
            caches.open(CACHE).then((cache) => cache.put(request, copy));
          }
          return response;
        }),
    ),
  );
});
