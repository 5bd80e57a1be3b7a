// Register the service worker that makes Tocsin installable and shows push alerts.
if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {});
}
