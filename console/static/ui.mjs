// DOM helpers. Text is only ever set with textContent (never innerHTML): whatever a customer
// or an operator typed renders as text.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") el.textContent = String(v);
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }

let uid = 0;
export const nextId = (prefix) => `${prefix}-${++uid}`;

// A labelled field: returns {wrap, input, error}. The error element is the input's description.
export function field(label, input, { hint } = {}) {
  const id = input.id || nextId("f");
  input.id = id;
  const error = h("p", { class: "field-error", id: `${id}-error`, role: "alert", hidden: true });
  const described = [`${id}-error`];
  let hintEl = null;
  if (hint) { hintEl = h("p", { class: "hint", id: `${id}-hint`, text: hint }); described.push(`${id}-hint`); }
  input.setAttribute("aria-describedby", described.join(" "));
  const wrap = h("div", { class: "field" }, h("label", { for: id, text: label }), input, hintEl, error);
  return { wrap, input, error };
}

export function showFieldError(f, message) {
  f.error.textContent = message || "";
  f.error.hidden = !message;
  if (message) f.input.setAttribute("aria-invalid", "true"); else f.input.removeAttribute("aria-invalid");
}

export function table(columns, rows, { caption, empty = "Nothing to show." } = {}) {
  const t = h("table", {}, caption ? h("caption", { text: caption }) : null,
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", text: c })))));
  const body = h("tbody");
  if (!rows.length) body.append(h("tr", {}, h("td", { colspan: String(columns.length), class: "empty", text: empty })));
  for (const r of rows) body.append(h("tr", {}, r.map((cell) => h("td", {}, cell))));
  t.append(body);
  return h("div", { class: "table-wrap" }, t);
}

// ---------------------------------------------------------------- dialogs with a focus trap
const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

// Opens a modal dialog (or a side panel with {side: true}); focus stays inside until it closes,
// then returns to the element that had it. Returns {close, el, body}.
export function openDialog(title, build, { side = false, onClose } = {}) {
  const opener = document.activeElement;
  const titleId = nextId("dlg-title");
  const body = h("div", { class: "dialog-body" });
  const closeBtn = h("button", { type: "button", class: "close", "aria-label": "Close", text: "×" });
  const panel = h("div", { class: side ? "dialog side" : "dialog", role: "dialog", "aria-modal": "true",
    "aria-labelledby": titleId },
  h("div", { class: "dialog-head" }, h("h2", { id: titleId, text: title }), closeBtn), body);
  const backdrop = h("div", { class: "backdrop" }, panel);
  const inert = [...document.body.children];
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    backdrop.remove();
    inert.forEach((el) => { el.inert = false; });
    document.removeEventListener("keydown", onKey, true);
    if (onClose) onClose();
    if (opener && opener.isConnected && typeof opener.focus === "function") opener.focus();
  };
  function onKey(event) {
    if (event.key === "Escape") { event.preventDefault(); close(); return; }
    if (event.key !== "Tab") return;
    const items = [...panel.querySelectorAll(FOCUSABLE)].filter((el) => !el.closest("[hidden]") && el.offsetParent !== null);
    if (!items.length) { event.preventDefault(); return; }
    const first = items[0], last = items[items.length - 1];
    if (!panel.contains(document.activeElement)) { event.preventDefault(); first.focus(); }
    else if (event.shiftKey && document.activeElement === first) { event.preventDefault(); last.focus(); }
    else if (!event.shiftKey && document.activeElement === last) { event.preventDefault(); first.focus(); }
  }
  closeBtn.addEventListener("click", close);
  document.addEventListener("keydown", onKey, true);
  inert.forEach((el) => { el.inert = true; });
  document.body.append(backdrop);
  build(body, close);
  const target = panel.querySelector("[autofocus]") || panel.querySelector(FOCUSABLE);
  if (target) target.focus();
  return { close, el: panel, body };
}

// A confirmation dialog: resolves true when confirmed. `extra(body)` may add fields and return a
// validator that returns an error message or "" (shown in the dialog, which then stays open).
export function confirmDialog(title, message, { confirmLabel = "Confirm", danger = false, action } = {}) {
  return new Promise((resolve) => {
    let done = false;
    openDialog(title, (body, close) => {
      const error = h("p", { class: "form-error", role: "alert", hidden: true });
      const ok = h("button", { type: "submit", class: danger ? "danger" : "primary", text: confirmLabel });
      const cancel = h("button", { type: "button", text: "Cancel", onclick: () => close() });
      const form = h("form", { novalidate: true }, h("p", { text: message }), error, h("div", { class: "actions" }, cancel, ok));
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        ok.disabled = true;
        try {
          if (action) await action();
          done = true;
          close();
          resolve(true);
        } catch (err) {
          error.textContent = err.message;
          error.hidden = false;
          ok.disabled = false;
        }
      });
      body.append(form);
      ok.setAttribute("autofocus", "");
    }, { onClose: () => { if (!done) resolve(false); } });
  });
}
