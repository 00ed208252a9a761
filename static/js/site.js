// Every page: register the service worker (served at /sw.js, scope /), which keeps the
// card's number and static code for a phone without network; forget that copy on logging out.
const CARD_CACHE = "loyalty-card-v1";

if ("serviceWorker" in navigator && window.isSecureContext) {
  navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {});
}

for (const form of document.querySelectorAll("form.logout-form")) {
  form.addEventListener("submit", () => {
    if ("caches" in window) caches.delete(CARD_CACHE);
    navigator.serviceWorker?.controller?.postMessage({ type: "forget-card" });
  });
}
