// The map of upcoming public mobilizations: each at its assembly point (a public place,
// exact by design), over streets when the operator has a map (js/basemap.js), on a blank
// background when not. It reads the list below it, with the same filters, as GeoJSON;
// tapping a marker opens the mobilization's page. Without JavaScript the list is the page.
(function () {
  const el = document.getElementById("map");
  if (!el || !window.L || !el.dataset.mobilizations) return;
  const streets = Boolean(window.tocsinBasemap && window.tocsinBasemap.on);
  const map = L.map(el, { zoomControl: true, attributionControl: streets }).setView([0, 0], 2);
  if (streets) window.tocsinBasemap(map);
  function frame(bounds) {
    if (bounds.isValid()) map.fitBounds(bounds, { maxZoom: 14, padding: [24, 24] });
  }
  function label(p) {
    // Text nodes only: titles are typed by organizers, never read as HTML.
    const box = document.createElement("div");
    [p.title, p.kind_label + " · " + p.committee, p.where].forEach((line) => {
      if (!line) return;
      const row = document.createElement("div");
      row.textContent = line;
      box.appendChild(row);
    });
    return box;
  }
  fetch(el.dataset.mobilizations, { credentials: "same-origin" }).then((r) => r.json()).then((gj) => {
    const layer = L.geoJSON(gj, {
      pointToLayer: (f, latlng) => L.circleMarker(latlng, { radius: 10, color: "#b3261e", weight: 2, fillOpacity: 0.6 }),
      onEachFeature: (f, marker) => {
        marker.bindTooltip(label(f.properties));
        marker.on("click", () => { window.location.assign(f.properties.url); });
      },
    }).addTo(map);
    el.dataset.drawn = String(gj.features.length);
    if (gj.features.length) frame(layer.getBounds());
    else if (el.dataset.areas) {
      // Nothing to show: frame the areas the network covers, for orientation.
      fetch(el.dataset.areas, { credentials: "same-origin" }).then((r) => r.json()).then((areas) => {
        const outline = L.geoJSON(areas, { style: { color: "#888", weight: 1, fillOpacity: 0.05 }, interactive: false }).addTo(map);
        frame(outline.getBounds());
      }).catch(() => {});
    }
  }).catch(() => {});
})();
