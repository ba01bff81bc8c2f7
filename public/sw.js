// Merpati's service worker: keeps the app itself (index.html, JS, WASM, CSS) on the device so
// that a reload works with no server at all — the history is in IndexedDB already, and
// messages written offline wait in the outbox. It never touches the server's own endpoints
// (SERVER_PATHS, below).
//
// One cache per release: the build (scripts/trunk/post-build.sh) writes a hash of its files
// over VERSION, so a new release is a new service worker, which caches the new app beside the
// old one and, once active, deletes every other release's cache.
const VERSION = "development";
const CACHE_PREFIX = "merpati-app-";
const CACHE = CACHE_PREFIX + VERSION;

// The engine worker's files: the page starts the worker (index.html does not link them), so
// the install fetches them by name; the same for the language catalogues.
const WORKER_FILES = [
  "/merpati-worker_loader.js",
  "/merpati-worker.js",
  "/merpati-worker_bg.wasm",
  // The catalogues of the languages besides English (crates/page/src/language.rs): fetched
  // by the page, not linked, and named alike in every release.
  "/locales/id.txt",
];

// The server's own endpoints (crates/server/src/http.rs), left to the network: the socket,
// health and metrics, and the blobs — files, fetched with the session's token and opened by
// the engine worker. A blob answered from or kept in the cache would be a copy of every file
// a person downloads, kept on the device for as long as the release. Each path and what lies
// under it.
const SERVER_PATHS = ["/ws", "/healthz", "/metrics", "/blobs"];

// The names trunk gives the files it hashes (`main-<16 hex digits>.css`, the page's
// `merpati-app-<16 hex digits>.js` and `_bg.wasm`), and the start script's
// (scripts/trunk/post-build.sh): a new content is a new name, so the cached copy is the right
// one. Every other file keeps its name across releases — index.html, the worker's files, the
// catalogues, theme.js, session-hint.js, the manifest, the icons, the emoji picker's emoji —
// and a copy cached by the release before would be served with the new page.
const HASHED_NAME = /-[0-9a-f]{16}(?:_bg)?\.[a-z]+$/;

// The app's files: index.html, everything it links, and the worker's files. One that cannot be
// had fails the install (`addAll` refuses an answer that is not ok; the page is checked here):
// a server answering with an error mid-deploy must leave the release before active with its
// cache, not have this one, with nothing to serve, delete it on activating. The page goes in
// last, once every file it needs is kept, and a failed install deletes the cache it began: one
// holding some files of a release that never became active would otherwise stay on the device
// until another release activates. A cache that was there before is left: a release that
// changes sw.js alone has the version of the release active now (the build's hash leaves
// sw.js out), and shares its cache.
async function cacheApp() {
  const response = await fetch("/", { cache: "no-store" });
  if (!isAppPage(response)) throw new Error(`"/" answered ${response.status}, not the page`);
  const assets = linkedFiles(await response.clone().text());
  const begun = !(await caches.has(CACHE));
  const cache = await caches.open(CACHE);
  try {
    await cache.addAll([...assets.filter((url) => !url.startsWith("/ws")), ...WORKER_FILES]);
    await cache.put("/", response);
  } catch (error) {
    if (begun) await caches.delete(CACHE);
    throw error;
  }
}

self.addEventListener("install", (event) => {
  event.waitUntil(cacheApp().then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) =>
        Promise.all(
          names
            .filter((name) => name.startsWith(CACHE_PREFIX) && name !== CACHE)
            .map((name) => caches.delete(name)),
        ),
      )
      .then(() => self.clients.claim()),
  );
});

// The files of the origin a page links (index.html's stylesheets, scripts, icons, manifest).
function linkedFiles(html) {
  // Attribute values may come quoted or not (trunk minifies index.html).
  return [...html.matchAll(/(?:href|src)=["']?(\/[^"'\s>]+)/g)].map((match) => match[1]);
}

// Whether an answer (to the install's "/", to a navigation) is the app's page. A link may lead
// anywhere on the origin — to the engine worker's script, the icon, a stylesheet — and only
// the page may take the place of "/" in the cache, or the app would no longer open offline.
function isAppPage(response) {
  const type = response.headers.get("content-type") || "";
  return response.ok && type.startsWith("text/html");
}

// Keeps a copy of `response` under `key` while the answer goes on to the page. The copy is
// written after the answer has gone, so the fetch event is told to wait for it: a service
// worker with no event left to wait for may be stopped, and the write with it.
function keep(event, key, response) {
  const copy = response.clone();
  event.waitUntil(caches.open(CACHE).then((cache) => cache.put(key, copy)));
}

// What this release keeps under `key` (a path), or undefined.
function kept(key) {
  return caches.match(key, { cacheName: CACHE });
}

// A navigation: the page from the network, so that a new release shows up; the kept page when
// the network fails, or when an error comes back in the app's place — a proxy's 502 while a
// self-hosted server restarts, a 404 while a deploy replaces the files — for the history is on
// the device and the app runs from it. Any other answer passes as it is: a redirect (the
// browser follows it), a file of the origin opened in a tab, and a 401, which asks the person
// to sign in to whatever stands before the server.
//
// The page from the network is kept as "/" only if it is this release's: it links the same
// hashed files as the page kept (or, with none kept, only hashed files kept already). Another
// release's page comes before its service worker (a deploy caught half-way, or this worker not
// yet replaced) and may link files not there yet, or never fetched if the load was cut — and
// once fetched, its hashed files are kept here too, but not the files named alike in every
// release: kept here, it would take the place of a page that starts offline, with the files
// of one release (or of two), until the next release's worker is installed.
async function navigate(event) {
  const request = event.request;
  let response;
  try {
    response = await fetch(request);
  } catch {
    return (await kept("/")) || Response.error();
  }
  if (isAppPage(response)) {
    const copy = response.clone();
    event.waitUntil(keepIfThisRelease(copy));
  } else if (response.status >= 400 && response.status !== 401) {
    return (await kept("/")) || response;
  }
  return response;
}

// The hashed files a page links, in order.
async function hashedLinks(page) {
  return linkedFiles(await page.clone().text())
    .filter((url) => HASHED_NAME.test(url))
    .sort();
}

// Keeps `page` as "/" if it is this release's page (above).
async function keepIfThisRelease(page) {
  const cache = await caches.open(CACHE);
  const links = await hashedLinks(page);
  const kept = await cache.match("/");
  const ours = kept
    ? (await hashedLinks(kept)).join(" ") === links.join(" ")
    : (await Promise.all(links.map((url) => cache.match(url)))).every(Boolean);
  if (ours) await cache.put("/", page);
}

// A file that keeps its name across releases: from the network, so that the page of a new
// release gets that release's file; the kept copy when the network fails or answers with an
// error, as for the page. Kept when fetched only if this release keeps none yet (the emoji
// picker's file, never fetched ahead, so that a picker opened before opens offline): the copy
// the install kept goes with this release's page, and the network's may be the next
// release's — the engine worker of one release with the page of another.
async function networkFirst(event) {
  const request = event.request;
  const key = new URL(request.url).pathname;
  let response;
  try {
    response = await fetch(request);
  } catch {
    return (await kept(key)) || Response.error();
  }
  if (!response.ok) return (await kept(key)) || response;
  const copy = response.clone();
  event.waitUntil(
    caches.open(CACHE).then(async (cache) => {
      if (!(await cache.match(key))) await cache.put(key, copy);
    }),
  );
  return response;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  const server = SERVER_PATHS.some(
    (path) => url.pathname === path || url.pathname.startsWith(path + "/"),
  );
  if (server) return;

  if (request.mode === "navigate") {
    event.respondWith(navigate(event));
    return;
  }
  if (!HASHED_NAME.test(url.pathname)) {
    event.respondWith(networkFirst(event));
    return;
  }

  // A hashed file never changes under its name: the cached copy is the right one.
  event.respondWith(
    caches.match(request, { cacheName: CACHE }).then(
      (cached) =>
        cached ||
        fetch(request).then((response) => {
          if (response.ok) keep(event, request, response);
          return response;
        }),
    ),
  );
});

// A notification of a new message (crates/page/src/notify.rs) clicked: the app's tab comes
// forward and opens that chat; with no tab open, the app opens at that chat (`#chat=<id>`).
self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const chat = event.notification.data && event.notification.data.chat;
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
      const tab = windows[0];
      if (!tab) return self.clients.openWindow(typeof chat === "number" ? `/#chat=${chat}` : "/");
      if (typeof chat === "number") tab.postMessage({ openChat: chat });
      return tab.focus();
    }),
  );
});

// How much the person sees of a window of the app: 2 on screen and focused — looked at, as the
// page's own rule has it (crates/page/src/engine_link.rs, `page_looked_at`) —, 1 on screen
// without the focus (left behind another app, or on a second screen), 0 hidden (a tab behind
// another, a minimised window).
function seen(client) {
  if (client.visibilityState !== "visible") return 0;
  return client.focused ? 2 : 1;
}

// A tab asks to show a new message's notification, `[title, options]` (crates/page/src/
// notify.rs, `show`), and the ask goes back to it to be shown — unless another window of the
// app is seen more. Every tab hears every message and decides for itself, and the window seen
// more notifies, by that same rule, every chat the person is not looking at in it; the chat
// they are looking at there is read there, and a notification of it from a tab behind would
// show and close a moment later, once that tab heard it read (with the system's sound, on
// some systems). So only the windows seen most notify: the focused one, when one is on screen.
// The windows of the app are those at its one address, `/`: a file of the origin open in a
// tab notifies nothing, and no message may be left to it (an app opened at another address is
// not deferred to either, which at worst shows a notification twice, never none).
//
// Races: each tab decides when it hears the message, from where the windows stand then, and
// so does the window deferred to. If it is hidden a moment later and hears the message after,
// it is behind too, and notifies; if it heard it before, while seen, it notified, or had the
// chat read on screen, or took the message in silence while its connection caught up, with
// the chat's unread count on screen. Only the person moving between two tabs in the moment
// between their hearing one message could leave it to neither; they are then looking at the
// app, which shows it unread.
self.addEventListener("message", (event) => {
  const asking = event.source;
  if (!Array.isArray(event.data) || !asking) return;
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
      const now = windows.find((client) => client.id === asking.id) || asking;
      const seenMore = windows.some(
        (client) =>
          client.id !== asking.id &&
          new URL(client.url).pathname === "/" &&
          seen(client) > seen(now),
      );
      if (!seenMore) asking.postMessage(event.data);
    }),
  );
});
