// Streets under a Tocsin map, from Tocsin's own tiles or the operator's tile server (this
// script's data-basemap says which). Raster tiles are images Leaflet draws; vector tiles
// are drawn in the page by protomaps-leaflet. No setting, or no renderer: no streets, and
// the map still works (committee areas drawn for orientation).
(function () {
  const script = document.currentScript;
  let config = {};
  try { config = JSON.parse((script && script.dataset.basemap) || "{}"); } catch (e) { config = {}; }

  // Leaflet writes attribution as HTML; ours is text.
  function text(s) {
    const span = document.createElement("span");
    span.textContent = s || "";
    return span.innerHTML;
  }

  // Add the street layer to `map`; return whether there is one.
  window.tocsinBasemap = function (map) {
    if (!config.tiles || !window.L) return false;
    const options = {
      maxZoom: config.maxViewZoom,
      attribution: text(config.attribution),
    };
    if (config.kind === "vector") {
      if (!window.protomapsL) return false;
      window.protomapsL.leafletLayer(Object.assign(options, {
        url: config.tiles,
        flavor: "light",
        lang: document.documentElement.lang || "en",
        maxDataZoom: config.maxZoom,
      })).addTo(map);
    } else {
      L.tileLayer(config.tiles, Object.assign(options, { maxNativeZoom: config.maxZoom })).addTo(map);
    }
    return true;
  };
  window.tocsinBasemap.on = Boolean(config.tiles && (config.kind !== "vector" || window.protomapsL));
})();
