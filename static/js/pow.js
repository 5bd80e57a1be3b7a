// The report form's anti-flood check: a proof of work in the ALTCHA format, solved here.
// The server sends a challenge (tocsin/intake/pow.py): find the number n, at most
// maxnumber, for which SHA-256(salt + n) is the challenge. The answer goes in a hidden
// field, then the send button works. No cookie, nothing about the person or the device.
(function () {
  const form = document.getElementById("report-form");
  const field = document.getElementById("id_altcha");
  const status = document.getElementById("pow-status");
  const button = document.getElementById("submit-report");
  if (!form || !field || !status || !button) return;
  // Hashes awaited together: crypto.subtle works off the page's thread, and the page
  // handles taps and typing between batches.
  const BATCH = 1000;
  const encoder = new TextEncoder();
  const hex = (buffer) =>
    Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
  let refresh = null;

  async function solve(c) {
    for (let start = 0; start <= c.maxnumber; start += BATCH) {
      const end = Math.min(start + BATCH, c.maxnumber + 1);
      const tries = [];
      for (let n = start; n < end; n++) {
        tries.push(crypto.subtle.digest("SHA-256", encoder.encode(c.salt + n)));
      }
      const hashes = await Promise.all(tries);
      for (let i = 0; i < hashes.length; i++) {
        if (hex(hashes[i]) === c.challenge) return start + i;
      }
      status.textContent = `${status.dataset.working} ${Math.floor((100 * end) / (c.maxnumber + 1))}%`;
    }
    return null;
  }

  async function run() {
    field.value = "";
    button.disabled = true;
    status.textContent = status.dataset.working;
    try {
      if (!(window.crypto && crypto.subtle)) throw new Error("no crypto.subtle");
      const response = await fetch(status.dataset.challenge, { cache: "no-store", credentials: "omit" });
      if (!response.ok) throw new Error(`challenge: ${response.status}`);
      const c = await response.json();
      const number = await solve(c);
      if (number === null) throw new Error("no solution");
      field.value = btoa(JSON.stringify({
        algorithm: c.algorithm, challenge: c.challenge, number, salt: c.salt, signature: c.signature,
      }));
      status.textContent = status.dataset.ready;
      // A challenge expires (the salt says when): solve a new one a little before.
      const expires = Number(new URLSearchParams(c.salt.split("?")[1] || "").get("expires")) * 1000;
      if (expires) {
        clearTimeout(refresh);
        refresh = setTimeout(run, Math.max(60000, expires - Date.now() - 120000));
      }
    } catch (e) {
      status.textContent = status.dataset.failed;
    }
    // Also after a failure: the server then says what is wrong and keeps what was typed.
    button.disabled = false;
  }

  run();
})();
