// Live parts of a page: each [data-live] element is replaced with the HTML partial
// its Server-Sent Events stream sends. EventSource reconnects by itself.
(function () {
  document.querySelectorAll("[data-live]").forEach((el) => {
    const source = new EventSource(el.dataset.live);
    const status = document.querySelector("[data-live-status]");
    source.addEventListener("update", (e) => { el.innerHTML = e.data; });
    source.addEventListener("open", () => { if (status) status.classList.remove("offline"); });
    source.addEventListener("error", () => { if (status) status.classList.add("offline"); });
  });
})();
