// Sign-up on a mobilization's page: where this browser can take push notifications, a
// "push on this device" choice is added; picking it subscribes through our service
// worker with the server's VAPID key and sends the subscription with the form. Without
// JavaScript (or push) the form offers email and SMS only.
(function () {
  const form = document.getElementById("rsvp-form");
  if (!form || !form.dataset.pushKey) return;
  if (!("serviceWorker" in navigator) || !("PushManager" in window)) return;
  const channel = form.querySelector("select[name=channel]");
  const address = form.querySelector("input[name=address]");
  const subscription = form.querySelector("input[name=subscription]");
  const status = document.getElementById("rsvp-push-status");
  if (!channel || !subscription) return;
  const option = document.createElement("option");
  option.value = "webpush";
  option.textContent = form.dataset.pushLabel;
  channel.appendChild(option);
  function keyBytes(b64) {
    const pad = "=".repeat((4 - (b64.length % 4)) % 4);
    const raw = atob((b64 + pad).replace(/-/g, "+").replace(/_/g, "/"));
    return Uint8Array.from(raw, (c) => c.charCodeAt(0));
  }
  function follow() {
    const push = channel.value === "webpush";
    if (address) {
      address.closest("p").hidden = push;
    }
  }
  channel.addEventListener("change", follow);
  follow();
  let ready = false;
  form.addEventListener("submit", async (event) => {
    if (channel.value !== "webpush" || ready) return;
    event.preventDefault();
    try {
      if (Notification.permission !== "granted" && (await Notification.requestPermission()) !== "granted") throw new Error("denied");
      const reg = await navigator.serviceWorker.ready;
      const key = keyBytes(form.dataset.pushKey);
      const old = await reg.pushManager.getSubscription();
      if (old) {
        const oldKey = old.options && old.options.applicationServerKey ? new Uint8Array(old.options.applicationServerKey) : null;
        if (!oldKey || oldKey.length !== key.length || oldKey.some((b, i) => b !== key[i])) await old.unsubscribe();
      }
      const sub = (await reg.pushManager.getSubscription()) || (await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key }));
      subscription.value = JSON.stringify(sub.toJSON());
      ready = true;
      form.requestSubmit(document.getElementById("rsvp-button"));
    } catch (e) {
      status.textContent = form.dataset.pushFail;
    }
  });
})();
