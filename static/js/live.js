// Live parts of a page: each [data-live] element is replaced with the HTML partial
// its Server-Sent Events stream sends. EventSource reconnects by itself.
//
// A dispatcher working from the keyboard keeps their place: the control that had the
// focus has it again after an update (found by its report, its key, or its position and
// text), and an update waits while they are typing in a field of the live part. A
// <details> with an id that was open stays open.
(function () {
  function typing(node) {
    return node && (node.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(node.tagName));
  }
  function pathOf(root, node) {
    const path = [];
    for (let n = node; n && n !== root; n = n.parentElement) {
      path.unshift([...n.parentElement.children].indexOf(n));
    }
    return path;
  }
  function follow(root, path) {
    let n = root;
    for (const i of path) {
      n = n && n.children[i];
    }
    return n;
  }
  function remember(root) {
    const node = document.activeElement;
    if (!node || node === root || !root.contains(node)) return null;
    return {
      path: pathOf(root, node),
      tag: node.tagName,
      text: node.textContent.trim(),
      report: node.dataset.report,
      key: node.dataset.key,
    };
  }
  function restore(root, mark) {
    if (!mark) return;
    let node = null;
    if (mark.report) node = root.querySelector(`[data-report="${CSS.escape(mark.report)}"]`);
    if (!node && mark.key) node = root.querySelector(`[data-key="${CSS.escape(mark.key)}"]`);
    if (!node) {
      const at = follow(root, mark.path);
      if (at && at.tagName === mark.tag && at.textContent.trim() === mark.text) node = at;
    }
    if (!node) return;
    if (node.tabIndex < 0 && !node.hasAttribute("tabindex")) node.tabIndex = -1;
    node.focus();
  }
  document.querySelectorAll("[data-live]").forEach((el) => {
    const source = new EventSource(el.dataset.live);
    const status = document.querySelector("[data-live-status]");
    let pending = null;
    function apply(html) {
      const mark = remember(el);
      const open = [...el.querySelectorAll("details[id]")].filter((d) => d.open).map((d) => d.id);
      el.innerHTML = html;
      for (const id of open) {
        const details = document.getElementById(id);
        if (details && el.contains(details)) details.open = true;
      }
      restore(el, mark);
    }
    el.addEventListener("focusout", () => {
      // After the focus has moved on: apply what arrived while they typed.
      setTimeout(() => {
        if (pending !== null && !(typing(document.activeElement) && el.contains(document.activeElement))) {
          const html = pending;
          pending = null;
          apply(html);
        }
      }, 0);
    });
    source.addEventListener("update", (e) => {
      if (typing(document.activeElement) && el.contains(document.activeElement)) {
        pending = e.data;
        return;
      }
      apply(e.data);
    });
    source.addEventListener("open", () => { if (status) status.classList.remove("offline"); });
    source.addEventListener("error", () => { if (status) status.classList.add("offline"); });
  });
})();
