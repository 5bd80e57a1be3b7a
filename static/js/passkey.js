// Passkeys (WebAuthn): add one to this account, or log in with one. Options come
// from the server as JSON; the browser parses them and signs with the device.
(function () {
  function csrf() {
    const m = document.cookie.match(/(?:^|; )(?:__Host-tocsin-csrf|csrftoken)=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : (document.querySelector("input[name=csrfmiddlewaretoken]") || {}).value;
  }
  async function post(url, body) {
    const r = await fetch(url, { method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() }, body: JSON.stringify(body || {}) });
    const data = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(data.error || "failed");
    return data;
  }
  function say(el, text) { const s = document.getElementById(el.dataset.status); if (s) s.textContent = text; }
  const supported = window.PublicKeyCredential && PublicKeyCredential.parseCreationOptionsFromJSON;

  document.querySelectorAll("[data-passkey-register]").forEach((button) => {
    if (!supported) { button.disabled = true; say(button, button.dataset.unsupported); return; }
    button.addEventListener("click", async () => {
      try {
        const options = await post(button.dataset.begin);
        const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(options.publicKey);
        const credential = await navigator.credentials.create({ publicKey });
        await post(button.dataset.complete, { credential: credential.toJSON(), name: button.dataset.name });
        location.reload();
      } catch (e) { say(button, button.dataset.fail); }
    });
  });

  document.querySelectorAll("[data-passkey-login]").forEach((button) => {
    if (!supported) { button.hidden = true; return; }
    button.addEventListener("click", async () => {
      try {
        const options = await post(button.dataset.begin);
        const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options.publicKey);
        const credential = await navigator.credentials.get({ publicKey });
        const done = await post(button.dataset.complete + "?next=" + encodeURIComponent(button.dataset.next || "/me/"), { credential: credential.toJSON() });
        location.assign(done.next || "/me/");
      } catch (e) { say(button, button.dataset.fail); }
    });
  });
})();
