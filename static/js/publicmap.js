// The public map: each incident of the list below it drawn as its public cell (a hexagon),
// over streets when the operator has a map (js/basemap.js), on a blank background when
// not. It reads the same incidents as GeoJSON, and again whenever the live list changes.
(function () {
  const el = document.getElementById("map");
  if (!el || !window.L) return;
  const streets = Boolean(window.tocsinBasemap && window.tocsinBasemap.on);
  const map = L.map(el, { zoomControl: true, attributionControl: streets }).setView([0, 0], 2);
  if (streets) window.tocsinBasemap(map);
  const styles = {
    confirmed: { color: "#b3261e", weight: 2, fillOpacity: 0.35 },
    resolved: { color: "#555", weight: 2, fillOpacity: 0.2, dashArray: "4 4" },
  };
  function popup(p) {
    const box = document.createElement("div");
    [p.kind_label + " · " + p.state_label, p.place, p.verification].forEach((line) => {
      const row = document.createElement("div");
      row.textContent = line;
      box.appendChild(row);
    });
    return box;
  }
  let layer = null;
  let framed = false;
  let outlined = false;
  function frame(bounds) {
    if (framed || !bounds.isValid()) return;
    framed = true;
    map.fitBounds(bounds, { maxZoom: 13 });
  }
  function draw() {
    // After a live update the list is newer than a cached copy: ask the server again.
    fetch(el.dataset.incidents, { credentials: "same-origin", cache: "no-cache" }).then((r) => r.json()).then((gj) => {
      if (layer) layer.remove();
      layer = L.geoJSON(gj, {
        style: (f) => styles[f.properties.state] || styles.confirmed,
        onEachFeature: (f, l) => l.bindPopup(popup(f.properties)),
      }).addTo(map);
      el.dataset.drawn = String(gj.features.length);
      if (gj.features.length) frame(layer.getBounds());
      else if (el.dataset.areas && !outlined) {
        outlined = true;
        // Nothing to show: frame the areas the network covers, for orientation.
        fetch(el.dataset.areas, { credentials: "same-origin" }).then((r) => r.json()).then((areas) => {
          const outline = L.geoJSON(areas, { style: { color: "#888", weight: 1, fillOpacity: 0.05 }, interactive: false }).addTo(map);
          frame(outline.getBounds());
        }).catch(() => {});
      }
    }).catch(() => {});
  }
  draw();
  const list = document.getElementById(el.dataset.list);
  if (list) new MutationObserver(draw).observe(list, { childList: true });
})();
