// The invitation link (templates/portal/includes/share.html): the phone's own share sheet
// where the Web Share API exists, else a copy to the clipboard, else the field selected for
// a manual copy. The button stays hidden without JavaScript: the field is enough then.
const button = document.getElementById("share-button");
const field = document.getElementById("share-link");
const status = document.getElementById("share-status");

if (button && field) {
  const canShare = typeof navigator.share === "function";
  button.textContent = canShare ? button.dataset.labelShare : button.dataset.labelCopy;
  button.hidden = false;

  button.addEventListener("click", async () => {
    const url = field.value;
    if (canShare) {
      try {
        await navigator.share({ title: button.dataset.title, text: button.dataset.text, url });
        return;
      } catch (error) {
        if (error?.name === "AbortError") return; // the person closed the share sheet
      }
    }
    try {
      await navigator.clipboard.writeText(url);
      if (status) status.textContent = button.dataset.copied;
    } catch {
      field.focus();
      field.select();
    }
  });
}
