// The service worker (served at /sw.js by loyalty.portal.brand, scope /).
// - /card/ is always asked of the network first (its QR changes every 30 seconds); each
//   time it answers, the worker also keeps /card/offline/: the card's number and a code of
//   the number that never changes, with the name and tier. Without network, /card/ shows
//   that copy. Logging out or in (or a /card/ that answers with the login page) drops it.
//   The card page (static/js/card.js) registers this worker.
// - Static files (/static/, /brand.css, icons) are served from the cache and refreshed
//   in the background. Nothing else is cached: the other pages are private and live.
const CARD_CACHE = "loyalty-card-v1";
const STATIC_CACHE = "loyalty-static-v1";
const OFFLINE_CARD = "/card/offline/";

self.addEventListener("install", () => self.skipWaiting());

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    const keep = new Set([CARD_CACHE, STATIC_CACHE]);
    for (const name of await caches.keys()) if (!keep.has(name)) await caches.delete(name);
    await self.clients.claim();
  })());
});

async function keepOfflineCard() {
  const response = await fetch(OFFLINE_CARD, { credentials: "same-origin", redirect: "manual" });
  const cache = await caches.open(CARD_CACHE);
  if (response.ok && response.type === "basic") await cache.put(OFFLINE_CARD, response);
  else await cache.delete(OFFLINE_CARD); // logged out: nothing personal stays
}

async function cardPage(event) {
  try {
    const response = await fetch(event.request);
    const loggedOut = response.redirected && new URL(response.url).pathname !== "/card/";
    if (loggedOut) event.waitUntil(caches.delete(CARD_CACHE));
    else if (response.ok) event.waitUntil(keepOfflineCard().catch(() => {}));
    return response;
  } catch (error) {
    const cached = await (await caches.open(CARD_CACHE)).match(OFFLINE_CARD);
    if (cached) return cached;
    throw error;
  }
}

async function staticFile(event) {
  const cache = await caches.open(STATIC_CACHE);
  const cached = await cache.match(event.request);
  const fresh = fetch(event.request).then(async (response) => {
    if (response.ok) await cache.put(event.request, response.clone());
    return response;
  });
  if (cached) {
    event.waitUntil(fresh.catch(() => {}));
    return cached;
  }
  return fresh;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.method === "POST" && (url.pathname === "/accounts/logout/"
      || url.pathname === "/accounts/login/" || url.pathname === "/accounts/signup/")) {
    // Logging out, or someone logging in (perhaps another person, after a session ran
    // out on a shared phone): nothing of the previous card stays.
    event.waitUntil(caches.delete(CARD_CACHE));
    return;
  }
  if (request.method !== "GET") return;
  if (request.mode === "navigate" && url.pathname === "/card/") {
    event.respondWith(cardPage(event));
  } else if (url.pathname.startsWith("/static/") || url.pathname === "/brand.css"
             || url.pathname.startsWith("/icons/")) {
    event.respondWith(staticFile(event));
  }
});
