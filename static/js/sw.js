// Tocsin service worker: shows push alerts, opens them on click, and serves an
// offline page with know-your-rights when there is no connection.
const CACHE = "tocsin-v1";
const OFFLINE = "/offline/";

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.add(OFFLINE)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(self.clients.claim());
});

// The panic button's page opens with no connection too: the last copy fetched is kept.
const PANIC = "/me/family/panic/";

self.addEventListener("fetch", (event) => {
  if (event.request.mode !== "navigate") return;
  if (new URL(event.request.url).pathname === PANIC) {
    event.respondWith(
      fetch(event.request)
        .then((r) => {
          if (r.ok && !r.redirected) {
            const copy = r.clone();
            caches.open(CACHE).then((c) => c.put(PANIC, copy));
          }
          return r;
        })
        .catch(() => caches.match(PANIC).then((r) => r || caches.match(OFFLINE))),
    );
    return;
  }
  event.respondWith(fetch(event.request).catch(() => caches.match(OFFLINE)));
});

self.addEventListener("push", (event) => {
  let data = {};
  try { data = event.data ? event.data.json() : {}; } catch (e) { data = { title: "Tocsin", body: event.data ? event.data.text() : "" }; }
  const title = data.title || "Tocsin";
  const shown = self.registration.showNotification(title, {
    body: data.body || "",
    tag: data.tag || undefined,
    renotify: Boolean(data.tag),
    requireInteraction: true,
    data: { url: data.url || "/" },
  });
  // Tell Tocsin the alert reached this device, so it does not fall back to another
  // channel. Only our own origin's receipt links are followed.
  const receipt = typeof data.receipt === "string" && data.receipt.startsWith(self.location.origin + "/")
    ? fetch(data.receipt, { method: "POST", credentials: "omit", cache: "no-store" }).catch(() => {})
    : Promise.resolve();
  event.waitUntil(Promise.all([shown, receipt]));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = (event.notification.data && event.notification.data.url) || "/";
  event.waitUntil(self.clients.openWindow(url));
});
