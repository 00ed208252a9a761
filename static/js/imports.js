// An import's page: follow the running job from its JSON endpoint, then reload to show how it
// ended. Every word shown comes translated from the server.
const bar = document.getElementById("import-progress");
const status = document.getElementById("import-status");

if (bar && status && bar.dataset.url) {
  const EVERY_MS = 1500;

  async function poll() {
    try {
      const response = await fetch(bar.dataset.url, {
        credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" },
      });
      if (response.ok) {
        const state = await response.json();
        bar.value = state.percent;
        bar.textContent = `${state.percent} %`;
        status.textContent = state.text;
        if (state.finished) {
          window.location.reload();
          return;
        }
      }
    } catch {
      // A network hiccup: the next round tries again.
    }
    setTimeout(poll, EVERY_MS);
  }

  setTimeout(poll, EVERY_MS);
}
