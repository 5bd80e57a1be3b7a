// A map that shows one place (an incident's), with committee areas for orientation.
// Read-only: nothing is picked here.
(function () {
  document.querySelectorAll("[data-place-map]").forEach((el) => {
    if (!window.L) return;
    const here = [parseFloat(el.dataset.lat), parseFloat(el.dataset.lng)];
    const streets = Boolean(window.tocsinBasemap && window.tocsinBasemap.on);
    const map = L.map(el, { attributionControl: streets }).setView(here, 15);
    if (streets) window.tocsinBasemap(map);
    if (el.dataset.areas) {
      fetch(el.dataset.areas, { credentials: "same-origin" }).then((r) => r.json()).then((gj) => {
        L.geoJSON(gj, { style: { color: "#b3261e", weight: 1, fillOpacity: 0.08 }, interactive: false }).addTo(map);
      }).catch(() => {});
    }
    L.circleMarker(here, { radius: 10, color: "#111", fillColor: "#b3261e", fillOpacity: 0.9 }).addTo(map);
  });
})();
