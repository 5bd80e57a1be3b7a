// The coverage page's map: each area's cells, green when someone is on every duty now,
// red when not. Drawn only where street tiles exist; the list above says the same.
(function () {
  const el = document.getElementById("map");
  const data = document.getElementById("coverage-features");
  if (!el || !data || !window.L) return;
  const gj = JSON.parse(data.textContent);
  const streets = Boolean(window.tocsinBasemap && window.tocsinBasemap.on);
  const map = L.map(el, { attributionControl: streets });
  if (streets) window.tocsinBasemap(map);
  const layer = L.geoJSON(gj, {
    style: (f) => ({
      color: f.properties.covered ? "#1b6e3a" : "#b3261e",
      weight: 1,
      fillOpacity: 0.25,
    }),
    onEachFeature: (f, l) => l.bindTooltip(f.properties.name),
  }).addTo(map);
  map.fitBounds(layer.getBounds());
})();
