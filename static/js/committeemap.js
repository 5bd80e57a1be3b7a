// The find page's map: the listed committees' coarse areas; tapping one opens its page.
// Without JavaScript (or Leaflet) the map stays hidden and the ZIP code form does the job.
(function () {
  const el = document.querySelector("[data-committee-map]");
  if (!el || !window.L) return;
  el.hidden = false;
  const centre = [parseFloat(el.dataset.lat), parseFloat(el.dataset.lng)];
  const streets = Boolean(window.tocsinBasemap && window.tocsinBasemap.on);
  const map = L.map(el, { attributionControl: streets }).setView(centre, 10);
  if (streets) window.tocsinBasemap(map);
  fetch(el.dataset.areas, { credentials: "same-origin" }).then((r) => r.json()).then((gj) => {
    const layer = L.geoJSON(gj, {
      style: { color: "#b3261e", weight: 1, fillOpacity: 0.15 },
      onEachFeature: (feature, shape) => {
        shape.bindTooltip(feature.properties.name);
        shape.on("click", () => { window.location.assign(feature.properties.url); });
      },
    }).addTo(map);
    if (gj.features.length) map.fitBounds(layer.getBounds(), { maxZoom: 12 });
  }).catch(() => {});
})();
