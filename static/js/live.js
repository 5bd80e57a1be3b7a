// Live parts of a page: each [data-live] element is replaced with the HTML partial
// its Server-Sent Events stream sends. EventSource reconnects by itself.
//
// A dispatcher working from the keyboard keeps their place: the control that had the
// focus has it again after an update (found by its report, its key, its field, or its
// position and text), and an update waits while they are typing in a field of the live
// part of the page.
//
// A [data-live] element with data-live-parts gets several parts in one stream: each
// top-level [data-part] of an update replaces the children of the element with the same
// data-part inside it, only when that part changed. Such a part may hold forms: it is
// replaced even while someone types in it, and what they typed, ticked or chose there
// stays, with the focus and the cursor. A [data-say] text that changed (the incident's
// state) is read out through the element's [data-live-announce] region. A <details> with
// an id that was open stays open. A part sent with data-keep leaves the page's own part as
// it is (one person's form, which a shared update cannot hold), unless that part is empty.
//
// Updates are shared by everyone who sees the same thing, so their forms carry no one's
// CSRF token: the element's data-csrf (the page's own) goes into them. When the stream
// is refused (too many live viewers: 503, or access taken away) the element's
// data-live-busy or data-live-stopped text says so above it.
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
  const FIELDS = "input[name], textarea[name], select[name]";
  function fieldKey(field) {
    const form = field.closest("form");
    const choice = field.type === "checkbox" || field.type === "radio" ? field.value : "";
    return [form ? form.getAttribute("action") || "" : "", field.name, choice].join("|");
  }
  function fieldIn(root, key) {
    return [...root.querySelectorAll(FIELDS)].find((f) => fieldKey(f) === key) || null;
  }
  function remember(root) {
    const node = document.activeElement;
    if (!node || node === root || !root.contains(node)) return null;
    const mark = {
      path: pathOf(root, node),
      tag: node.tagName,
      text: node.textContent.trim(),
      report: node.dataset.report,
      key: node.dataset.key,
    };
    if (node.matches(FIELDS)) {
      mark.field = fieldKey(node);
      if (typeof node.selectionStart === "number") {
        try {
          mark.selection = [node.selectionStart, node.selectionEnd, node.selectionDirection];
        } catch (e) { /* a field type without a selection */ }
      }
    }
    return mark;
  }
  function restore(root, mark) {
    if (!mark) return;
    let node = null;
    if (mark.report) node = root.querySelector(`[data-report="${CSS.escape(mark.report)}"]`);
    if (!node && mark.key) node = root.querySelector(`[data-key="${CSS.escape(mark.key)}"]`);
    if (!node && mark.field) node = fieldIn(root, mark.field);
    if (!node) {
      const at = follow(root, mark.path);
      if (at && at.tagName === mark.tag && at.textContent.trim() === mark.text) node = at;
    }
    if (!node) return;
    if (node.tabIndex < 0 && !node.hasAttribute("tabindex")) node.tabIndex = -1;
    node.focus();
    if (mark.selection && node.setSelectionRange) {
      try {
        node.setSelectionRange(...mark.selection);
      } catch (e) { /* a field type without a selection */ }
    }
  }
  // What the person changed in the fields of a part: values other than the page's own.
  function edited(root) {
    const changed = new Map();
    root.querySelectorAll(FIELDS).forEach((f) => {
      if (f.type === "hidden") return;
      if (f.type === "checkbox" || f.type === "radio") {
        if (f.checked !== f.defaultChecked) changed.set(fieldKey(f), { checked: f.checked });
      } else if (f.tagName === "SELECT") {
        if ([...f.options].some((o) => o.selected !== o.defaultSelected)) {
          changed.set(fieldKey(f), { value: f.value });
        }
      } else if (f.value !== f.defaultValue) {
        changed.set(fieldKey(f), { value: f.value });
      }
    });
    return changed;
  }
  function carry(root, changed) {
    root.querySelectorAll(FIELDS).forEach((f) => {
      const was = changed.get(fieldKey(f));
      if (!was) return;
      if ("checked" in was) f.checked = was.checked;
      else f.value = was.value;
    });
  }
  function said(root) {
    return [...root.querySelectorAll("[data-say]")].map((n) => n.textContent.trim()).join(" ");
  }
  document.querySelectorAll("[data-live]").forEach((el) => {
    const source = new EventSource(el.dataset.live);
    const status = document.querySelector("[data-live-status]");
    const parts = el.hasAttribute("data-live-parts");
    const announce = el.querySelector("[data-live-announce]");
    const received = {};
    let saying = said(el);
    let pending = null;
    function sign(root) {
      if (!el.dataset.csrf) return;
      root.querySelectorAll("input[name=csrfmiddlewaretoken]").forEach((i) => { i.value = el.dataset.csrf; });
    }
    function stopped() {
      if (el.previousElementSibling && el.previousElementSibling.matches("[data-live-notice]")) return;
      fetch(el.dataset.live, { headers: { Accept: "text/event-stream" } }).then((r) => {
        const text = r.status === 503 ? el.dataset.liveBusy : el.dataset.liveStopped;
        if (r.body) r.body.cancel();
        if (!text) return;
        const note = document.createElement("p");
        note.setAttribute("role", "status");
        note.dataset.liveNotice = "";
        note.className = "notice";
        note.textContent = text;
        el.before(note);
      }, () => {});
    }
    function apply(html) {
      const mark = remember(el);
      const open = [...el.querySelectorAll("details[id]")].filter((d) => d.open).map((d) => d.id);
      el.innerHTML = html;
      sign(el);
      for (const id of open) {
        const details = document.getElementById(id);
        if (details && el.contains(details)) details.open = true;
      }
      restore(el, mark);
    }
    function applyParts(html) {
      const fresh = document.createElement("template");
      fresh.innerHTML = html;
      for (const src of [...fresh.content.children].filter((c) => c.matches("[data-part]"))) {
        const name = src.dataset.part;
        const dst = el.querySelector(`[data-part="${CSS.escape(name)}"]`);
        if (!dst || received[name] === src.innerHTML) continue;
        // data-keep: the page's own part stands (a form of one person's), unless it is empty.
        if (src.hasAttribute("data-keep") && dst.children.length) continue;
        received[name] = src.innerHTML;
        const mark = remember(dst);
        const changed = edited(dst);
        dst.replaceChildren(...src.childNodes);
        sign(dst);
        carry(dst, changed);
        restore(dst, mark);
      }
      const now = said(el);
      if (announce && now !== saying) announce.textContent = now;
      saying = now;
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
      if (parts) {
        applyParts(e.data);
        return;
      }
      if (typing(document.activeElement) && el.contains(document.activeElement)) {
        pending = e.data;
        return;
      }
      apply(e.data);
    });
    source.addEventListener("open", () => { if (status) status.classList.remove("offline"); });
    source.addEventListener("error", () => {
      if (status) status.classList.add("offline");
      if (source.readyState === EventSource.CLOSED) stopped();
    });
  });
})();
