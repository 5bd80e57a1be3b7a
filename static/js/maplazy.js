// The report page's map, loaded when the reporter opens it: Leaflet (and the street
// renderer) are most of the page's weight, and a reporter who names the place or uses
// their location never needs them. The scripts wait in a <template> and run in order.
(function () {
  const open = document.getElementById("map-open");
  const map = document.getElementById("map");
  const scripts = document.getElementById("map-scripts");
  if (!open || !map || !scripts) return;
  open.hidden = false;
  open.addEventListener("click", () => {
    open.disabled = true;
    map.hidden = false;
    const parts = Array.from(scripts.content.children);
    let last = null;
    const styles = [];
    const code = [];
    parts.forEach((part) => {
      const el = document.createElement(part.tagName);
      Array.from(part.attributes).forEach((a) => el.setAttribute(a.name, a.value));
      // Added by a script, they would run as each arrives; Leaflet must come first.
      if (el.tagName === "SCRIPT") {
        el.async = false;
        last = el;
        code.push(el);
        // Fetched now, beside the stylesheets; run once they apply.
        if (!el.src) return;
        const early = document.createElement("link");
        early.rel = "preload";
        early.as = "script";
        early.href = el.src;
        document.head.appendChild(early);
      } else {
        styles.push(new Promise((done) => {
          el.addEventListener("load", done);
          el.addEventListener("error", done);
        }));
        document.head.appendChild(el);
      }
    });
    // The map is drawn only once its stylesheet applies: drawn before, on a slow
    // network, its zoom buttons were bare 13 px links until the styles came.
    Promise.all(styles).then(() => code.forEach((el) => document.head.appendChild(el)));
    if (last) {
      last.addEventListener("load", () => {
        open.closest("p").hidden = true;
        map.focus();
      });
    }
  }, { once: true });
})();
