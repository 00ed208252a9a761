// The digital card's QR: fetch a fresh signed token before the shown one expires, without
// reloading the page. Texts come translated from the template's data attributes.
const figure = document.getElementById("card-qr");
const image = document.getElementById("card-qr-image");
const status = document.getElementById("card-qr-status");

if (figure && image && status) {
  const url = figure.dataset.tokenUrl;
  const RETRY_MS = 5000;
  let expiresAt = Date.now() + Number(figure.dataset.validSeconds) * 1000;
  let timer = 0;

  const schedule = (ms) => {
    clearTimeout(timer);
    timer = setTimeout(refresh, Math.max(ms, 250));
  };

  const showExpiry = () => {
    const expired = Date.now() >= expiresAt;
    figure.classList.toggle("is-expired", expired);
    if (expired) status.textContent = figure.dataset.textExpired;
    return expired;
  };

  async function refresh() {
    try {
      const response = await fetch(url, {
        credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" },
      });
      if (response.status === 401) {
        window.location.reload(); // logged out meanwhile: the page leads to the login
        return;
      }
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const data = await response.json();
      image.src = data.qr;
      image.dataset.token = data.token;
      expiresAt = Date.now() + data.valid_seconds * 1000;
      figure.classList.remove("is-expired");
      status.textContent = "";
      // Just after the step turns, so the server signs the new step.
      schedule(data.seconds_left * 1000 + 300);
    } catch {
      if (!showExpiry()) status.textContent = figure.dataset.textOffline;
      schedule(RETRY_MS);
    }
  }

  schedule(Number(figure.dataset.secondsLeft) * 1000 + 300);
  setInterval(showExpiry, 1000);
  // A phone woken up, or back online, gets a valid code at once.
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") refresh();
  });
  window.addEventListener("online", refresh);
  // Keep the screen on while the card is shown, where the browser allows it.
  navigator.wakeLock?.request("screen").catch(() => {});
}

// The service worker keeps the card's number and a code of it for a phone without network
// (static/js/sw.js, served at /sw.js so that its scope covers /card/).
if ("serviceWorker" in navigator && window.isSecureContext) {
  navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {});
}
