// Every control on the page smaller than MIN (CSS pixels), or nearer than GAP to another
// (tests/a11y_support.py). A radio button or a checkbox is the label around it; a link
// inside a line of text (a sentence, a table cell with more than the link) is exempt.
([MIN, GAP]) => {
  // Not hidden, not inside a closed <details>.
  const shown = (el) => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && el.checkVisibility({ visibilityProperty: true });
  };
  const inText = (el) => {
    if (el.matches(".button")) return false;
    const block = el.parentElement && el.parentElement.closest("p, li, td, th, dd, span, label, small, caption");
    return Boolean(block) && block.textContent.trim().length > el.textContent.trim().length + 1;
  };
  const describe = (el) => {
    const id = el.id ? "#" + el.id : "";
    const name = (el.getAttribute("aria-label") || el.textContent || el.value || el.name || "").trim().replace(/\s+/g, " ").slice(0, 40);
    return `${el.tagName.toLowerCase()}${id} "${name}"`;
  };
  const targets = [];
  const problems = [];
  document.querySelectorAll("a[href], button, input:not([type=hidden]), select, textarea, summary, [role=button]").forEach((el) => {
    if (!shown(el) || el.closest(".leaflet-control-attribution")) return;
    if ((el.matches("a, button.link")) && inText(el)) return;
    const box = el.matches("input[type=radio], input[type=checkbox]") ? (el.closest("label") || el) : el;
    if (targets.some((t) => t.box === box)) return;
    const r = box.getBoundingClientRect();
    if (r.width < MIN - 0.5 || r.height < MIN - 0.5) {
      problems.push(`${describe(el)} is ${Math.round(r.width)}x${Math.round(r.height)} px`);
    }
    targets.push({ box, r, el });
  });
  for (let i = 0; i < targets.length; i++) {
    for (let j = i + 1; j < targets.length; j++) {
      const a = targets[i], b = targets[j];
      if (a.box.contains(b.box) || b.box.contains(a.box)) continue;
      const dx = Math.max(b.r.left - a.r.right, a.r.left - b.r.right);
      const dy = Math.max(b.r.top - a.r.bottom, a.r.top - b.r.bottom);
      const gap = Math.max(dx, dy);
      if (gap < GAP - 0.5) problems.push(`${describe(a.el)} and ${describe(b.el)} are ${Math.round(gap)} px apart`);
    }
  }
  return problems;
}
