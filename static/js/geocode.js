// Address search on the hotline form: asks Tocsin (which asks the operator's geocoder)
// and puts the picked place on the map.
(function () {
  const box = document.querySelector("[data-geocode]");
  const input = document.getElementById("address");
  const list = document.getElementById("places");
  if (!box || !input || !list) return;
  async function find() {
    const q = input.value.trim();
    list.textContent = "";
    if (!q) return;
    let data;
    try {
      const r = await fetch(`${box.dataset.geocode}?q=${encodeURIComponent(q)}`, { credentials: "same-origin" });
      data = await r.json();
    } catch (e) { data = { error: box.dataset.none }; }
    if (data.error || !data.places || !data.places.length) {
      const li = document.createElement("li");
      li.textContent = data.error || box.dataset.none;
      list.appendChild(li);
      return;
    }
    data.places.forEach((p) => {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = p.label;
      b.addEventListener("click", () => {
        if (window.tocsinPickMap) window.tocsinPickMap.place(p.lat, p.lng, true);
        list.textContent = "";
      });
      li.appendChild(b);
      list.appendChild(li);
    });
    list.querySelector("button").focus();
  }
  document.getElementById("find").addEventListener("click", find);
  input.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); find(); } });
})();
