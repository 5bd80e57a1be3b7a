// Keyboard use of the desk: a letter moves the focus to the control marked with
// data-key="<letter>" (Enter then acts, so a stray key never confirms a raid); j and k
// move through the queue's items; Escape leaves a text field; ? shows the list.
(function () {
  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }
  function visible(el) { return el && el.offsetParent !== null; }
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "Escape" && typing(document.activeElement)) { document.activeElement.blur(); return; }
    if (typing(document.activeElement)) return;
    if (e.key === "?") {
      const help = document.getElementById("keys-help");
      if (help) { help.hidden = !help.hidden; e.preventDefault(); }
      return;
    }
    if (e.key === "j" || e.key === "k") {
      const items = [...document.querySelectorAll("#queue .card")].filter(visible);
      if (!items.length) return;
      const at = items.indexOf(document.activeElement);
      const next = e.key === "j" ? Math.min(items.length - 1, at + 1) : Math.max(0, at - 1);
      const item = items[at < 0 ? 0 : next];
      item.tabIndex = -1;
      item.focus();
      e.preventDefault();
      return;
    }
    if (e.key === "Enter" && document.activeElement && document.activeElement.matches("#queue .card")) {
      const card = document.activeElement;
      const first = card.querySelector("button") || card.querySelector("a[href]");
      if (first) { first.focus(); e.preventDefault(); }
      return;
    }
    const target = [...document.querySelectorAll(`[data-key="${CSS.escape(e.key)}"], [data-key-target="${CSS.escape(e.key)}"]`)].find(visible)
      || document.querySelector(`[data-key-target="${CSS.escape(e.key)}"]`);
    if (!target) return;
    const details = target.closest("details");
    if (details) details.open = true;
    target.focus();
    e.preventDefault();
  });
})();
