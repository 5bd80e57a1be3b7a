// Places by name on the report page and the hotline form: search the committees' named
// places (and addresses, when the operator runs a geocoder), all through Tocsin; say
// what is near the point picked on the map or by "Use my location". Without this script
// the search is a plain GET form whose results are choices in the report form.
(function () {
  const box = document.querySelector("[data-search]");
  if (!box) return;
  const form = box.closest("form");
  const input = document.getElementById("where");
  const find = document.getElementById("where-find");
  const results = document.getElementById("where-results");
  const whereNow = document.getElementById("where-now");
  const near = document.getElementById("near-places");
  const status = document.getElementById("place-status");
  const latInput = form.querySelector("input[name=lat]");
  const lngInput = form.querySelector("input[name=lng]");
  let choosing = false;
  let asked = 0; // the latest search: older answers are dropped
  let pause = null;

  function say(el, text) { if (el) el.textContent = text || ""; }

  // Put the report at a point: on the map when there is one, else in the form alone.
  function pick(lat, lng, label) {
    asked += 1;
    form.querySelectorAll("input[name=place]").forEach((r) => { r.checked = false; });
    choosing = Boolean(label);
    if (window.tocsinPickMap) {
      window.tocsinPickMap.place(lat, lng, true);
    } else {
      latInput.value = lat.toFixed(6);
      lngInput.value = lng.toFixed(6);
      form.dispatchEvent(new CustomEvent("tocsin:picked", { bubbles: true, detail: { lat, lng } }));
    }
    choosing = false;
    if (label) {
      say(status, `${box.dataset.picked} ${label}`);
      say(whereNow, "");
      if (near) near.textContent = "";
    }
  }
  window.tocsinPick = (lat, lng) => pick(lat, lng, "");

  function button(text, lat, lng, label) {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    b.addEventListener("click", () => {
      pick(lat, lng, label);
      results.textContent = "";
    });
    li.appendChild(b);
    return li;
  }

  async function ask(params) {
    const r = await fetch(`${box.dataset.search}?${new URLSearchParams(params)}`, { credentials: "same-origin" });
    return r.json();
  }

  async function search(event) {
    if (event) event.preventDefault();
    clearTimeout(pause);
    const mine = ++asked;
    const q = input.value.trim();
    results.textContent = "";
    if (!q) return;
    const params = { q };
    if (latInput.value && lngInput.value) Object.assign(params, { lat: latInput.value, lng: lngInput.value });
    let data;
    try { data = await ask(params); } catch (e) { data = { error: box.dataset.failed }; }
    if (mine !== asked) return;
    const found = [...(data.places || []), ...(data.addresses || [])];
    if (data.error || !found.length) {
      const p = document.createElement("p");
      p.className = "muted";
      p.textContent = data.error || [box.dataset.none, data.address_error].filter(Boolean).join(" ");
      results.appendChild(p);
      return;
    }
    const list = document.createElement("ul");
    list.className = "places";
    (data.places || []).forEach((p) => list.appendChild(button(`${p.name} · ${p.kind}`, p.lat, p.lng, p.name)));
    (data.addresses || []).forEach((a) => list.appendChild(button(a.label, a.lat, a.lng, a.label)));
    results.appendChild(list);
    // Asked for (Enter, Find): go to the first result; while typing, stay in the box.
    if (event) list.querySelector("button").focus();
  }

  // A tap on the map or the phone's location: say where that is, and offer the named
  // places around it.
  async function describe(lat, lng) {
    let data;
    try { data = await ask({ lat: lat.toFixed(6), lng: lng.toFixed(6) }); } catch (e) { return; }
    if (data.error) return;
    say(whereNow, [data.where, data.address].filter(Boolean).join(" · "));
    if (!near) return;
    near.textContent = "";
    if (!data.places || !data.places.length) return;
    const title = document.createElement("li");
    title.className = "muted";
    title.textContent = near.dataset.title;
    near.appendChild(title);
    data.places.forEach((p) => near.appendChild(button(`${p.name} · ${p.metres} m`, p.lat, p.lng, p.name)));
  }

  const searchForm = document.getElementById("where-form");
  if (searchForm) searchForm.addEventListener("submit", search);
  if (find) {
    find.type = "button";
    find.addEventListener("click", search);
  }
  input.addEventListener("keydown", (e) => { if (e.key === "Enter") search(e); });
  // As the caller speaks or the reporter types: search after a short pause.
  input.addEventListener("input", () => {
    clearTimeout(pause);
    if (input.value.trim().length >= 3) pause = setTimeout(search, 450);
  });
  document.addEventListener("tocsin:picked", (e) => {
    if (!choosing && e.detail) describe(e.detail.lat, e.detail.lng);
  });
})();
