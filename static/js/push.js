// Turn on push alerts for this device: subscribe through our service worker with the
// server's VAPID key, then send the subscription to Tocsin.
(function () {
  const button = document.getElementById("enable-push");
  if (!button) return;
  const status = document.getElementById("push-status");
  if (!("serviceWorker" in navigator) || !("PushManager" in window)) { button.disabled = true; status.textContent = button.dataset.fail; return; }
  function keyBytes(b64) {
    const pad = "=".repeat((4 - (b64.length % 4)) % 4);
    const raw = atob((b64 + pad).replace(/-/g, "+").replace(/_/g, "/"));
    return Uint8Array.from(raw, (c) => c.charCodeAt(0));
  }
  function csrf() {
    const m = document.cookie.match(/(?:^|; )(?:__Host-tocsin-csrf|csrftoken)=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : (document.querySelector("input[name=csrfmiddlewaretoken]") || {}).value;
  }
  // The server's refusal, in the member's language (a push service it does not send to).
  class Refused extends Error {}
  async function send(sub) {
    const body = JSON.stringify({ ...sub.toJSON(), label: button.dataset.label });
    const r = await fetch(button.dataset.url, { method: "POST", body, credentials: "same-origin", headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() } });
    if (!r.ok) {
      let said = "";
      try { said = (await r.json()).error || ""; } catch (e) { said = ""; }
      throw new Refused(said);
    }
  }
  window.tocsinSendSubscription = send;
  button.addEventListener("click", async () => {
    try {
      if (Notification.permission !== "granted" && (await Notification.requestPermission()) !== "granted") throw new Error("denied");
      const reg = await navigator.serviceWorker.ready;
      const key = keyBytes(button.dataset.key);
      // After the server's key was rotated the browser refuses a new subscription while
      // the old one (made for the old key) exists: drop it first.
      const old = await reg.pushManager.getSubscription();
      if (old) {
        const oldKey = old.options && old.options.applicationServerKey ? new Uint8Array(old.options.applicationServerKey) : null;
        if (!oldKey || oldKey.length !== key.length || oldKey.some((b, i) => b !== key[i])) await old.unsubscribe();
      }
      const sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
      await send(sub);
      status.textContent = button.dataset.ok;
      setTimeout(() => location.reload(), 800);
    } catch (e) {
      status.textContent = (e instanceof Refused && e.message) || button.dataset.fail;
    }
  });
})();
