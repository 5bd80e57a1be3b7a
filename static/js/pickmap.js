// A map to pick a point, over streets when the operator has a map (js/basemap.js). Works
// with no streets at all: committee areas are drawn as hexagons for orientation, and a
// tap sets the hidden lat/lng fields of the form.
(function () {
  const el = document.getElementById("map");
  if (!el || !window.L) return;
  const form = el.closest("form");
  const latInput = form.querySelector("input[name=lat]");
  const lngInput = form.querySelector("input[name=lng]");
  const start = [parseFloat(el.dataset.lat), parseFloat(el.dataset.lng)];
  const streets = Boolean(window.tocsinBasemap && window.tocsinBasemap.on);
  const map = L.map(el, { zoomControl: true, attributionControl: streets }).setView(start, 12);
  if (streets) window.tocsinBasemap(map);
  if (el.dataset.areas) {
    fetch(el.dataset.areas, { credentials: "same-origin" }).then((r) => r.json()).then((gj) => {
      if (!gj.features || !gj.features.length) return;
      const layer = L.geoJSON(gj, { style: { color: "#b3261e", weight: 1, fillOpacity: 0.12 }, interactive: false }).addTo(map);
      if (!latInput.value) map.fitBounds(layer.getBounds());
    }).catch(() => {});
  }
  let marker = null;
  function place(lat, lng, pan) {
    latInput.value = lat.toFixed(6);
    lngInput.value = lng.toFixed(6);
    if (marker) marker.setLatLng([lat, lng]);
    else marker = L.circleMarker([lat, lng], { radius: 9, color: "#111", fillColor: "#b3261e", fillOpacity: 0.9 }).addTo(map);
    if (pan) map.setView([lat, lng], Math.max(map.getZoom(), 15));
    el.dispatchEvent(new CustomEvent("tocsin:picked", { bubbles: true, detail: { lat, lng } }));
  }
  if (latInput.value && lngInput.value) place(parseFloat(latInput.value), parseFloat(lngInput.value), true);
  map.on("click", (e) => place(e.latlng.lat, e.latlng.lng, false));
  window.tocsinPickMap = { map, place };
})();
