// The report form: "use my location", photo limits, the hotlines of the place picked, and
// no double submit.
(function () {
  const form = document.getElementById("report-form");
  if (!form) return;
  const status = document.getElementById("place-status");
  const locate = document.getElementById("locate");
  document.addEventListener("tocsin:picked", () => { status.textContent = status.dataset.picked || "✓"; });
  // The hotlines of the committees covering the place picked (about 100 m is enough to
  // know which committees cover it), fetched a moment after the last tap.
  const hotlines = document.getElementById("hotlines");
  let pending = null;
  if (hotlines && hotlines.dataset.src) {
    document.addEventListener("tocsin:picked", (e) => {
      if (!e.detail) return;
      clearTimeout(pending);
      pending = setTimeout(() => {
        const query = new URLSearchParams({ lat: e.detail.lat.toFixed(3), lng: e.detail.lng.toFixed(3) });
        fetch(`${hotlines.dataset.src}?${query}`, { credentials: "same-origin", cache: "no-store" })
          .then((r) => (r.ok ? r.text() : Promise.reject(r.status)))
          .then((html) => { hotlines.innerHTML = html; })
          .catch(() => {});
      }, 400);
    });
  }
  if (locate) {
    if (!("geolocation" in navigator)) locate.hidden = true;
    locate.addEventListener("click", () => {
      navigator.geolocation.getCurrentPosition(
        (pos) => {
          const { latitude, longitude } = pos.coords;
          if (window.tocsinPickMap) window.tocsinPickMap.place(latitude, longitude, true);
          else if (window.tocsinPick) window.tocsinPick(latitude, longitude);
        },
        () => { status.textContent = locate.dataset.failed || "✗"; },
        { enableHighAccuracy: true, timeout: 10000 }
      );
    });
  }
  // Photos the server would refuse (too many, too big) are dropped at once with the
  // server's own words, so the report itself can still be sent.
  const photos = document.getElementById("id_photos");
  const photoStatus = document.getElementById("photo-status");
  if (photos && photoStatus) {
    photos.addEventListener("change", () => {
      const files = Array.from(photos.files || []);
      let problem = "";
      if (files.length > Number(photos.dataset.maxCount)) problem = photos.dataset.tooMany;
      else if (files.some((f) => f.size > Number(photos.dataset.maxBytes))) problem = photos.dataset.tooBig;
      photoStatus.textContent = problem || "";
      if (problem) photos.value = "";
    });
  }
  form.addEventListener("submit", () => {
    const button = document.getElementById("submit-report");
    // Let this submit go, block the next: the server also ignores a repeated form.
    setTimeout(() => { button.disabled = true; }, 0);
  });
})();
