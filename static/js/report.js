// The report form: "use my location", and no double submit.
(function () {
  const form = document.getElementById("report-form");
  if (!form) return;
  const status = document.getElementById("place-status");
  const locate = document.getElementById("locate");
  document.addEventListener("tocsin:picked", () => { status.textContent = status.dataset.picked || "✓"; });
  if (locate) {
    if (!("geolocation" in navigator)) locate.hidden = true;
    locate.addEventListener("click", () => {
      navigator.geolocation.getCurrentPosition(
        (pos) => window.tocsinPickMap && window.tocsinPickMap.place(pos.coords.latitude, pos.coords.longitude, true),
        () => { status.textContent = locate.dataset.failed || "✗"; },
        { enableHighAccuracy: true, timeout: 10000 }
      );
    });
  }
  form.addEventListener("submit", () => {
    const button = document.getElementById("submit-report");
    // Let this submit go, block the next: the server also ignores a repeated form.
    setTimeout(() => { button.disabled = true; }, 0);
  });
})();
