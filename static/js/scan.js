// The till: camera scanning (native BarcodeDetector, else the vendored jsQR), the typed
// fallback, and the member panel swapped in by htmx. Texts come translated from the page.
const till = document.getElementById("till");
const texts = JSON.parse(document.getElementById("scan-texts").textContent);
const status = document.getElementById("scan-status");
const form = document.getElementById("lookup-form");
const input = form.elements.code;
const toggle = document.getElementById("camera-toggle");
const box = document.getElementById("camera");
const video = document.getElementById("camera-video");

// Set before htmx starts (on DOMContentLoaded): nothing inline for the strict CSP, nothing
// of the member's kept in the browser's history cache, and 4xx answers (a plain message
// for the cashier) swapped in like the others.
if (window.htmx) {
  Object.assign(window.htmx.config, {
    includeIndicatorStyles: false, allowEval: false, allowScriptTags: false,
    historyEnabled: false, historyCacheSize: 0, selfRequestsOnly: true,
    responseHandling: [
      { code: "204", swap: false },
      { code: "[234]..", swap: true },
      { code: "...", swap: false, error: true },
    ],
  });
}

function say(message, isError = false) {
  const line = document.createElement("p");
  line.className = `status-line status-line-${isError ? "error" : "ok"}`;
  if (isError) {
    const label = document.createElement("strong");
    label.textContent = texts.problem;
    line.append(label, " ");
  }
  line.append(message);
  status.replaceChildren(line);
}

document.body.addEventListener("htmx:afterRequest", (event) => {
  const { elt, successful, xhr } = event.detail;
  if (elt === form && successful && xhr.status === 200) {
    form.reset();
    document.getElementById("id_amount")?.focus();
  }
});
// --- keyboard first: Esc (or "Next customer") clears for the next one; Esc cancels a
// confirmation first. Without this script, both are links that do the same on the server.

function nextCustomer() {
  const empty = document.createElement("section");
  empty.id = "member-panel";
  empty.className = "member-panel";
  empty.hidden = true;
  document.getElementById("member-panel")?.replaceWith(empty);
  status.replaceChildren();
  form.reset();
  document.getElementById("receipt-form")?.reset();
  input.focus();
}

function cancelConfirm(box) {
  box.remove();
  status.replaceChildren();
  (document.getElementById("id_amount") || document.getElementById("member-panel-title")
    || input).focus();
}

document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape" || event.defaultPrevented) return;
  const box = document.getElementById("till-confirm");
  event.preventDefault();
  if (box) cancelConfirm(box);
  else if (stream) stop();
  else nextCustomer();
});

till.addEventListener("click", (event) => {
  const link = event.target.closest("#next-customer, #till-confirm-no");
  if (!link) return;
  event.preventDefault();
  if (link.id === "next-customer") nextCustomer();
  else cancelConfirm(document.getElementById("till-confirm"));
});

document.body.addEventListener("htmx:sendError", () => say(texts.network, true));
document.body.addEventListener("htmx:responseError", () => say(texts.network, true));

// --- camera -------------------------------------------------------------------------------

let stream = null;
let decode = null;
let timer = 0;
const canvas = document.createElement("canvas");
const context = canvas.getContext("2d", { willReadFrequently: true });
const MAX_WIDTH = 640;

function loadScript(src) {
  return new Promise((resolve, reject) => {
    if (window.jsQR) return resolve();
    const script = document.createElement("script");
    script.src = src;
    script.addEventListener("load", resolve);
    script.addEventListener("error", reject);
    document.head.append(script);
  });
}

async function makeDecoder() {
  if ("BarcodeDetector" in window) {
    try {
      const formats = await window.BarcodeDetector.getSupportedFormats();
      if (formats.includes("qr_code")) {
        const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
        return async (source) => (await detector.detect(source))[0]?.rawValue || null;
      }
    } catch {
      // fall through to jsQR
    }
  }
  await loadScript(till.dataset.jsqr);
  return (source) => {
    const scale = Math.min(1, MAX_WIDTH / source.videoWidth);
    canvas.width = Math.round(source.videoWidth * scale);
    canvas.height = Math.round(source.videoHeight * scale);
    context.drawImage(source, 0, 0, canvas.width, canvas.height);
    const image = context.getImageData(0, 0, canvas.width, canvas.height);
    return window.jsQR(image.data, canvas.width, canvas.height,
      { inversionAttempts: "attemptBoth" })?.data || null;
  };
}

function stop() {
  clearTimeout(timer);
  stream?.getTracks().forEach((track) => track.stop());
  stream = null;
  video.srcObject = null;
  box.hidden = true;
  toggle.textContent = texts.camera_start;
  toggle.setAttribute("aria-pressed", "false");
}

async function tick() {
  if (!stream) return;
  let value = null;
  try {
    if (video.readyState >= 2 && video.videoWidth) value = await decode(video);
  } catch {
    value = null;
  }
  if (value) {
    // One read per scan: the customer's QR changes every 30 s, and a second read would
    // replace the panel while the cashier types the amount.
    stop();
    input.value = value.trim();
    say(texts.found);
    form.requestSubmit();
    return;
  }
  timer = setTimeout(tick, 150);
}

async function start() {
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: "environment" }, audio: false,
    });
  } catch (error) {
    stream = null;
    say(error?.name === "NotAllowedError" ? texts.camera_denied : texts.camera_unavailable, true);
    return;
  }
  video.srcObject = stream;
  box.hidden = false;
  toggle.textContent = texts.camera_stop;
  toggle.setAttribute("aria-pressed", "true");
  say(texts.camera_on);
  try {
    await video.play();
    decode ??= await makeDecoder();
  } catch {
    stop();
    say(texts.camera_unavailable, true);
    return;
  }
  tick();
}

if (navigator.mediaDevices?.getUserMedia) {
  toggle.hidden = false;
  toggle.addEventListener("click", () => (stream ? stop() : start()));
}
