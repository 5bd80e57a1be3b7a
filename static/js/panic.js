// The panic button: a few seconds to stop it, then it sends; with no connection it waits
// (kept in this browser) and sends as soon as the phone is back online.
(function () {
  "use strict";
  const form = document.getElementById("panic-form");
  if (!form) return;
  const status = document.getElementById("panic-status");
  const stop = document.getElementById("panic-stop");
  const button = document.getElementById("panic-button");
  const KEY = "tocsin-panic-pending";
  let timer = null;

  function send() {
    localStorage.setItem(KEY, "1");
    fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    }).then((r) => {
      if (!r.ok) throw new Error(String(r.status));
      localStorage.removeItem(KEY);
      status.textContent = form.dataset.sent;
      window.location.reload();
    }).catch(() => {
      status.textContent = form.dataset.queued;
    });
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (timer) return;
    let left = Number(form.dataset.wait || 5);
    button.disabled = true;
    stop.hidden = false;
    status.textContent = form.dataset.counting.replace("{n}", left);
    timer = setInterval(() => {
      left -= 1;
      if (left > 0) {
        status.textContent = form.dataset.counting.replace("{n}", left);
        return;
      }
      clearInterval(timer);
      stop.hidden = true;
      send();
    }, 1000);
  });

  stop.addEventListener("click", () => {
    clearInterval(timer);
    timer = null;
    button.disabled = false;
    stop.hidden = true;
    status.textContent = "";
  });

  window.addEventListener("online", () => {
    if (localStorage.getItem(KEY)) send();
  });
  if (localStorage.getItem(KEY) && navigator.onLine) send();
})();
