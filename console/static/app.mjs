// The operator console: a client of the public API only (README "The operator console").
import * as api from "./api.mjs";
import { ApiError, enc } from "./api.mjs";
import { barChart } from "./chart.mjs";
import * as dec from "./decimal.mjs";
import { CURRENCIES, CURRENCY_DIGITS, amountOf, dateTime, money, today, units } from "./format.mjs";
import { clear, confirmDialog, field, h, openDialog, showFieldError, table } from "./ui.mjs";

const main = document.getElementById("main");
const flash = document.getElementById("flash");
const progress = document.getElementById("progress");
const nav = document.getElementById("nav");
const signOutButton = document.getElementById("sign-out");

// ---------------------------------------------------------------- shell: progress, errors
let progressTimer = null;
api.onBusy((busy) => {
  clearTimeout(progressTimer);
  if (busy) progressTimer = setTimeout(() => { progress.hidden = false; main.setAttribute("aria-busy", "true"); }, 150);
  else { progress.hidden = true; main.removeAttribute("aria-busy"); }
});

function notify(message, ok = false) {
  flash.textContent = message;
  flash.classList.toggle("ok", ok);
  flash.hidden = !message;
}

// A screen's failure shows in the flash area; what is on the page stays.
async function guarded(fn) {
  try { return await fn(); } catch (err) {
    if (err instanceof ApiError && err.status === 401) { api.signOut(); route(); notify("Your API key was refused: sign in again."); return undefined; }
    notify(err.message || String(err));
    return undefined;
  }
}

const statusBadge = (s) => h("span", { class: `status status-${s}`, text: s });
const input = (attrs = {}) => h("input", { type: "text", ...attrs });
const select = (options, attrs = {}) => h("select", attrs, options.map(([value, label]) => h("option", { value, text: label })));
const button = (text, onclick, attrs = {}) => h("button", { type: "button", text, onclick, ...attrs });

// A list with cursor paging ("after"/"before" as the API returns them).
function pager(load) {
  const state = { after: null, before: null };
  const info = h("span", { class: "muted" });
  const prev = button("Previous page", () => load({ before: state.before }));
  const next = button("Next page", () => load({ after: state.after }));
  const el = h("div", { class: "pager" }, prev, next, info);
  return {
    el,
    update(pagination, shown) {
      state.after = pagination.after; state.before = pagination.before;
      prev.disabled = !pagination.before; next.disabled = !pagination.after;
      info.textContent = `${shown} shown of ${pagination.totalResultSize}`;
    },
  };
}

// Shows a 400's message next to the input its field names (fields: {apiField: fieldObject}).
function showApiError(err, fields, formError) {
  Object.values(fields).forEach((f) => f && showFieldError(f, ""));
  formError.hidden = true;
  const name = err.field && err.field.split(".")[0].split("[")[0];
  const target = name && fields[name];
  if (err.status === 400 && target) {
    showFieldError(target, err.message);
    target.input.focus();
  } else {
    formError.textContent = err.message;
    formError.hidden = false;
  }
}

// ---------------------------------------------------------------- sign in
function signInScreen() {
  nav.hidden = true; signOutButton.hidden = true; identity.hidden = true;
  const key = field("API key", h("input", { type: "password", autocomplete: "off", spellcheck: "false", required: true }),
    { hint: "Kept in this tab's session storage only; sent only to this service's API." });
  const error = h("p", { class: "form-error", role: "alert", hidden: true });
  const form = h("form", { class: "signin", novalidate: true },
    h("h1", { text: "Sign in" }), key.wrap, error,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", text: "Sign in" })));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = key.input.value.trim();
    if (!value) { showFieldError(key, "Enter an API key."); return; }
    try {
      await api.call("GET", "/customers", { query: { limit: 1 }, key: value });
      api.signIn(value, await whoAmI(value));
      key.input.value = "";
      notify("");
      if (!location.hash || location.hash === "#/" || location.hash === "#/signin") location.hash = "#/customers";
      else route();
    } catch (err) {
      error.textContent = err.status === 401 ? "That API key was not accepted." : err.message;
      error.hidden = false;
    }
  });
  clear(main).append(form);
  key.input.focus();
}

// Who is signed in: the key's name and scope (GET /api-keys/current). Keys of the api-key tool's
// first version have no record: they are admin keys.
async function whoAmI(key) {
  try {
    const me = await api.call("GET", "/api-keys/current", { key });
    return { name: me.name, scope: me.scope };
  } catch (err) {
    if (err.status === 404) return { name: "API key", scope: "admin" };
    throw err;
  }
}

const identity = document.getElementById("identity");
function showIdentity() {
  const me = api.identity();
  // Write controls are hidden for read keys, the key management page shown to admin keys only
  // (the API refuses them anyway: this only keeps the page honest about what the key may do).
  document.body.dataset.scope = me.scope;
  identity.hidden = false;
  identity.textContent = `${me.name} · ${me.scope}`;
}

// Who made a change (a ledger entry's actor): a key's name, a command's source, a job.
function actorName(actor) {
  if (!actor) return "—";
  if (actor.type === "api_key") return actor.name || actor.id;
  if (actor.type === "command") return `command · ${actor.source}`;
  return `system · ${actor.job}`;
}

signOutButton.addEventListener("click", () => {
  api.signOut();
  notify("Signed out.", true);
  location.hash = "#/signin";
  route();
});

// ---------------------------------------------------------------- customers
function customersScreen() {
  const search = field("Customer id or prefix", input({ name: "customer", autocomplete: "off" }));
  const listWrap = h("div");
  const page = pager((cursor) => load(cursor));
  const form = h("form", { class: "filters", novalidate: true }, search.wrap,
    h("button", { type: "submit", class: "primary", text: "Find" }),
    button("Open customer", () => { const v = search.input.value.trim(); if (v) location.hash = `#/customers/${enc(v)}`; }));
  let prefix = "";
  form.addEventListener("submit", (event) => { event.preventDefault(); prefix = search.input.value.trim(); load({}); });
  clear(main).append(h("h1", { text: "Customers" }), form, listWrap, page.el);

  async function load(cursor) {
    await guarded(async () => {
      showFieldError(search, "");
      let data;
      try {
        data = await api.get("/customers", { customerIdPrefix: prefix, limit: 20, ...cursor });
      } catch (err) {
        if (err.status === 400 && err.field === "customerIdPrefix") { showFieldError(search, err.message); return; }
        throw err;
      }
      const rows = data.items.map((c) => [
        h("a", { href: `#/customers/${enc(c.customerId)}`, text: c.customerId }),
        c.balances.length ? h("ul", { class: "plain" }, c.balances.map((b) => h("li", {
          text: b.type === "CASH" ? money(b.available, b.currency) : units(b.available, b.metricId) }))) : h("span", { class: "muted", text: "none" }),
        String(c.grantCount), dateTime(c.lastActivityAt),
      ]);
      clear(listWrap).append(table(["Customer", "Available", "Grants", "Last activity"], rows,
        { caption: prefix ? `Customers whose id starts with “${prefix}”` : "Customers, most recent activity first",
          empty: "No customers with credits." }));
      page.update(data.pagination, data.items.length);
    });
  }
  load({});
}

// ---------------------------------------------------------------- a customer's Credits tab
async function customerScreen(customerId) {
  const balancesEl = h("div", { class: "cards", "aria-live": "polite" });
  const grantsEl = h("div");
  const ledgerEl = h("div");
  const grantsById = new Map();
  const addButton = h("button", { type: "button", class: "primary write", text: "Add credit grant" });
  const filters = {
    status: field("Status", select([["", "Any"], ["ACTIVE", "Active"], ["AWAITING_PAYMENT", "Awaiting payment"], ["SCHEDULED", "Scheduled"], ["DEPLETED", "Depleted"], ["EXPIRED", "Expired"], ["VOIDED", "Voided"]])),
    type: field("Type", select([["", "Any"], ["CASH", "Cash"], ["USAGE", "Unit"]])),
    currency: field("Currency", select([["", "Any"], ...CURRENCIES.map((c) => [c, c])])),
  };
  Object.values(filters).forEach((f) => f.input.addEventListener("change", () => loadGrants({})));
  const grantPager = pager((cursor) => loadGrants(cursor));
  const ledgerPager = pager((cursor) => loadLedger(cursor));
  clear(main).append(
    h("p", {}, h("a", { href: "#/customers", text: "← Customers" })),
    h("div", { class: "toolbar" }, h("h1", {}, "Customer ", h("span", { class: "kv", text: customerId })), addButton),
    h("nav", { "aria-label": "Customer tabs" }, h("a", { href: `#/customers/${enc(customerId)}`, "aria-current": "page", text: "Credits" })),
    h("h2", { text: "Balances" }), balancesEl,
    h("h2", { text: "Credit grants" }), h("div", { class: "filters" }, Object.values(filters).map((f) => f.wrap)), grantsEl, grantPager.el,
    h("h2", { text: "Transaction history" }), ledgerEl, ledgerPager.el);
  addButton.addEventListener("click", () => grantForm(customerId, () => refresh()));

  async function loadBalances() {
    await guarded(async () => {
      const data = await api.get(`/customers/${enc(customerId)}/credit-balance`, { expiringWithinDays: 30 });
      clear(balancesEl);
      if (!data.balances.length) balancesEl.append(h("p", { class: "muted", text: "No usable credits." }));
      for (const b of data.balances) {
        const fmt = (v) => (b.type === "CASH" ? money(v, b.currency) : units(v, b.metricId));
        balancesEl.append(h("section", { class: "card", "aria-label": `${b.type === "CASH" ? b.currency : b.metricId} balance`, dataset: { balance: b.type === "CASH" ? b.currency : b.metricId } },
          h("h3", { text: b.type === "CASH" ? `Cash · ${b.currency}` : `Units · ${b.metricId}` }),
          h("dl", {},
            h("dt", { text: "Available" }), h("dd", { dataset: { k: "available" }, text: fmt(b.available) }),
            h("dt", { text: "Pending" }), h("dd", { dataset: { k: "pending" }, text: fmt(b.pending) }),
            h("dt", { text: "Expiring within 30 days" }), h("dd", { dataset: { k: "expiring" }, text: fmt(b.expiringSoon) }),
            h("dt", { text: "Grants" }), h("dd", { text: String(b.grantCount) }))));
      }
    });
  }

  async function loadGrants(cursor) {
    await guarded(async () => {
      const data = await api.get("/credit-grants", { customerId, status: filters.status.input.value, type: filters.type.input.value,
        currency: filters.currency.input.value, limit: 20, ...cursor });
      data.items.forEach((g) => grantsById.set(g.id, g));
      const rows = data.items.map((g) => [
        h("span", { text: g.name }), g.type === "CASH" ? "Cash" : "Unit", amountOf(g.originalAmount, g), amountOf(g.currentBalance, g),
        statusBadge(g.status), g.category, String(g.priority), g.effectiveDate, g.expiryDate || "never",
        grantActions(g),
      ]);
      clear(grantsEl).append(table(["Name", "Type", "Amount", "Balance", "Status", "Category", "Priority", "Effective", "Expiry", "Actions"], rows,
        { caption: "Credit grants, newest first", empty: "No credit grants match." }));
      grantPager.update(data.pagination, data.items.length);
    });
  }

  function grantActions(g) {
    const open = !["VOIDED", "EXPIRED"].includes(g.status);
    const untouched = g.originalAmount === g.currentBalance && dec.isZero(g.pendingAmount);
    return h("div", { class: "cell-actions" },
      open ? button("Edit", () => editGrant(g, refresh), { "aria-label": `Edit ${g.name}`, class: "link write" }) : null,
      open ? button("Void", () => voidGrant(g, refresh), { "aria-label": `Void ${g.name}`, class: "link write" }) : null,
      untouched && g.status !== "VOIDED" ? button("Delete", () => deleteGrant(g, refresh), { "aria-label": `Delete ${g.name}`, class: "link write" }) : null);
  }

  async function loadLedger(cursor) {
    await guarded(async () => {
      const data = await api.get(`/customers/${enc(customerId)}/credit-transactions`, { limit: 20, ...cursor });
      const missing = [...new Set(data.items.map((e) => e.grantId).filter((id) => !grantsById.has(id)))];
      await Promise.all(missing.map(async (id) => {
        try { grantsById.set(id, await api.get(`/credit-grants/${enc(id)}`)); } catch { /* deleted: raw amounts */ }
      }));
      const rows = data.items.map((e) => {
        const g = grantsById.get(e.grantId);
        return [statusBadge(e.type), amountOf(e.amount, g), amountOf(e.balanceAfter, g), h("span", { text: g ? g.name : e.grantId }),
          e.invoiceId ? h("a", { href: `#/invoices/${enc(e.invoiceId)}`, text: e.invoiceId }) : "—",
          h("span", { text: e.reason || "—" }), h("span", { class: "actor", text: actorName(e.actor) }), dateTime(e.createdAt)];
      });
      clear(ledgerEl).append(table(["Type", "Amount", "Balance after", "Grant", "Invoice", "Reason", "By", "Time"], rows,
        { caption: "Ledger entries, oldest first", empty: "No transactions." }));
      ledgerPager.update(data.pagination, data.items.length);
    });
  }

  async function refresh() { await Promise.all([loadBalances(), loadGrants({}), loadLedger({})]); }
  await refresh();
}

// ---------------------------------------------------------------- add credit grant (sidebar)
async function grantForm(customerId, done) {
  let taxRates = [];
  try { taxRates = (await api.get("/tax-rates", { limit: 100 })).items.filter((t) => t.active); } catch { taxRates = []; }
  openDialog("Add credit grant", (body, close) => {
    const f = {
      name: field("Name", input({ required: true, maxlength: "100", autocomplete: "off" })),
      amount: field("Amount", input({ inputmode: "decimal", autocomplete: "off" })),
      currency: field("Currency", select(CURRENCIES.map((c) => [c, c]))),
      unitAmount: field("Units", input({ inputmode: "decimal", autocomplete: "off" })),
      metricId: field("Metric", input({ autocomplete: "off", placeholder: "api_calls" })),
      unitCurrency: field("Price currency", select(CURRENCIES.map((c) => [c, c]))),
      pricePerUnit: field("Price per unit", input({ inputmode: "decimal", autocomplete: "off" })),
      costOfCredit: field("Total price", input({ inputmode: "decimal", autocomplete: "off" })),
      taxRateId: field("Tax rate", select([["", "No tax rate"], ...taxRates.map((t) => [t.id, `${t.name} (${t.percentage}%)`])])),
      effectiveDate: field("Effective date", h("input", { type: "date", value: today() })),
      expiryDate: field("Expiry date (last usable day)", h("input", { type: "date" }), { hint: "Leave empty for credits that never expire." }),
      category: field("Category", select([["PAID", "Paid"], ["PROMOTIONAL", "Promotional"]])),
      priority: field("Priority (0 applied first … 100 last)", h("input", { type: "number", min: "0", max: "100", step: "1", value: "50" })),
      reason: field("Reason (internal note)", h("textarea", { maxlength: "500" })),
    };
    f.currency.input.value = "USD"; f.unitCurrency.input.value = "USD";
    const typeCash = h("input", { type: "radio", name: "grant-type", value: "CASH", id: "grant-type-cash", checked: true });
    const typeUnit = h("input", { type: "radio", name: "grant-type", value: "USAGE", id: "grant-type-unit" });
    const typeSet = h("fieldset", {}, h("legend", { text: "Credit type" }),
      h("div", { class: "radios" }, h("label", {}, typeCash, " Cash"), h("label", {}, typeUnit, " Unit")));
    const cashPart = h("div", { class: "row" }, f.amount.wrap, f.currency.wrap);
    const unitPart = h("div", { hidden: true }, h("div", { class: "row" }, f.unitAmount.wrap, f.metricId.wrap),
      h("div", { class: "row" }, f.unitCurrency.wrap, f.pricePerUnit.wrap, f.costOfCredit.wrap));
    const syncType = () => { const unit = typeUnit.checked; cashPart.hidden = unit; unitPart.hidden = !unit; };
    typeCash.addEventListener("change", syncType); typeUnit.addEventListener("change", syncType);

    // price per unit <-> total price: whichever the operator typed last is sent; the other is
    // filled with the service's own rule (exact decimals, half-even).
    let typed = null;
    const autofill = () => {
      showFieldError(f.pricePerUnit, ""); showFieldError(f.costOfCredit, "");
      const q = f.unitAmount.input.value.trim();
      const digits = CURRENCY_DIGITS[f.unitCurrency.input.value];
      if (!dec.isPlainDecimal(q) || dec.isZero(q)) return;
      if (typed === "price") {
        const p = f.pricePerUnit.input.value.trim();
        f.costOfCredit.input.value = dec.isPlainDecimal(p) ? dec.totalFromPrice(p, q, digits) : "";
      } else if (typed === "total") {
        const t = f.costOfCredit.input.value.trim();
        f.pricePerUnit.input.value = dec.isPlainDecimal(t) ? dec.priceFromTotal(t, q) : "";
      }
    };
    f.pricePerUnit.input.addEventListener("input", () => { typed = "price"; autofill(); });
    f.costOfCredit.input.addEventListener("input", () => { typed = "total"; autofill(); });
    f.unitAmount.input.addEventListener("input", autofill);
    f.unitCurrency.input.addEventListener("change", autofill);

    const quick = h("div", { class: "quick", role: "group", "aria-label": "Expiry quick picks" },
      [30, 90, 180, 365].map((days) => button(`${days} days`, () => {
        const start = f.effectiveDate.input.value || today();
        const d = new Date(`${start}T00:00:00Z`); d.setUTCDate(d.getUTCDate() + days);
        f.expiryDate.input.value = d.toISOString().slice(0, 10);
      }, { "aria-label": `Expires in ${days} days` })));
    const invoice = h("input", { type: "checkbox", id: "grant-invoice" });
    const metaRows = h("div");
    const addMeta = () => {
      const k = h("input", { type: "text", "aria-label": "Metadata key", maxlength: "40" });
      const v = h("input", { type: "text", "aria-label": "Metadata value", maxlength: "500" });
      const row = h("div", { class: "meta-row" }, k, v, button("Remove", () => row.remove(), { "aria-label": "Remove metadata entry" }));
      metaRows.append(row);
      k.focus();
    };
    const metaError = h("p", { class: "field-error", role: "alert", hidden: true });
    const formError = h("p", { class: "form-error", role: "alert", hidden: true });
    const submit = h("button", { type: "submit", class: "primary", text: "Add credit grant" });
    const form = h("form", { novalidate: true, "aria-label": "Add credit grant" },
      h("p", { class: "muted" }, "Customer ", h("span", { class: "kv", text: customerId })),
      f.name.wrap, typeSet, cashPart, unitPart, f.taxRateId.wrap,
      h("div", { class: "row" }, f.effectiveDate.wrap, f.expiryDate.wrap), quick,
      h("div", { class: "field" }, h("label", {}, invoice, " Generate an invoice for this grant")),
      h("div", { class: "row" }, f.category.wrap, f.priority.wrap), f.reason.wrap,
      h("fieldset", {}, h("legend", { text: "Metadata" }), metaRows, metaError, button("Add metadata", addMeta)),
      formError, h("div", { class: "actions" }, button("Cancel", () => close()), submit));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const unit = typeUnit.checked;
      const payload = { customerId, name: f.name.input.value, type: unit ? "USAGE" : "CASH",
        category: f.category.input.value, priority: Number.parseInt(f.priority.input.value || "50", 10) };
      if (Number.isNaN(payload.priority)) payload.priority = f.priority.input.value;
      if (unit) {
        payload.amount = f.unitAmount.input.value.trim();
        payload.metricId = f.metricId.input.value.trim();
        const p = f.pricePerUnit.input.value.trim(), t = f.costOfCredit.input.value.trim();
        if (typed === "price" && p) { payload.pricePerUnit = p; payload.currency = f.unitCurrency.input.value; }
        else if (t) { payload.costOfCredit = t; payload.currency = f.unitCurrency.input.value; }
        else if (p) { payload.pricePerUnit = p; payload.currency = f.unitCurrency.input.value; }
      } else {
        payload.amount = f.amount.input.value.trim();
        payload.currency = f.currency.input.value;
        if (payload.category === "PROMOTIONAL") payload.costOfCredit = "0";
      }
      if (f.taxRateId.input.value) payload.taxRateId = f.taxRateId.input.value;
      if (f.effectiveDate.input.value && f.effectiveDate.input.value !== today()) payload.effectiveDate = f.effectiveDate.input.value;
      if (f.expiryDate.input.value) payload.expiryDate = f.expiryDate.input.value;
      if (invoice.checked) payload.generateInvoice = true;
      if (f.reason.input.value.trim()) payload.reason = f.reason.input.value;
      const metadata = {};
      for (const row of metaRows.children) {
        const [k, v] = row.querySelectorAll("input");
        if (k.value || v.value) metadata[k.value] = v.value;
      }
      if (Object.keys(metadata).length) payload.metadata = metadata;
      submit.disabled = true;
      metaError.hidden = true;
      try {
        const grant = await api.post("/credit-grants", payload);
        close();
        notify(`Credit grant “${grant.name}” added.`, true);
        done(grant);
      } catch (err) {
        const fields = { ...f, amount: unit ? f.unitAmount : f.amount, currency: unit ? f.unitCurrency : f.currency };
        if (err.status === 400 && err.field && err.field.startsWith("metadata")) {
          metaError.textContent = err.message; metaError.hidden = false; formError.hidden = true;
        } else showApiError(err, fields, formError);
      } finally { submit.disabled = false; }
    });
    body.append(form);
    f.name.input.setAttribute("autofocus", "");
  }, { side: true });
}

// ---------------------------------------------------------------- grant actions
function editGrant(g, done) {
  openDialog(`Edit ${g.name}`, (body, close) => {
    const f = {
      name: field("Name", input({ value: g.name, maxlength: "100" })),
      priority: field("Priority", h("input", { type: "number", min: "0", max: "100", value: String(g.priority) })),
      expiryDate: field("Expiry date (last usable day)", h("input", { type: "date", value: g.expiryDate || "" }), { hint: "Empty: never expires." }),
    };
    const formError = h("p", { class: "form-error", role: "alert", hidden: true });
    const form = h("form", { novalidate: true }, f.name.wrap, f.priority.wrap, f.expiryDate.wrap, formError,
      h("div", { class: "actions" }, button("Cancel", () => close()), h("button", { type: "submit", class: "primary", text: "Save" })));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const changes = {};
      if (f.name.input.value !== g.name) changes.name = f.name.input.value;
      const pr = Number.parseInt(f.priority.input.value, 10);
      if (pr !== g.priority) changes.priority = Number.isNaN(pr) ? f.priority.input.value : pr;
      const exp = f.expiryDate.input.value || null;
      if (exp !== (g.expiryDate || null)) changes.expiryDate = exp;
      try {
        await api.patch(`/credit-grants/${enc(g.id)}`, changes);
        close(); notify(`Credit grant “${f.name.input.value}” updated.`, true); done();
      } catch (err) { showApiError(err, f, formError); }
    });
    body.append(form);
  });
}

function voidGrant(g, done) {
  openDialog(`Void ${g.name}`, (body, close) => {
    const reason = field("Reason (required)", h("textarea", { maxlength: "500", required: true }));
    const formError = h("p", { class: "form-error", role: "alert", hidden: true });
    const confirm = h("input", { type: "checkbox", id: "void-confirm" });
    const confirmError = h("p", { class: "field-error", role: "alert", hidden: true });
    const form = h("form", { novalidate: true },
      h("p", { text: `The remaining ${amountOf(g.currentBalance, g)} is removed at once. Amounts already applied stay applied.` }),
      reason.wrap,
      h("div", { class: "field" }, h("label", {}, confirm, " I understand that voiding cannot be undone"), confirmError),
      formError,
      h("div", { class: "actions" }, button("Cancel", () => close()), h("button", { type: "submit", class: "danger", text: "Void grant" })));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!reason.input.value.trim()) { showFieldError(reason, "A reason is required to void a grant."); reason.input.focus(); return; }
      showFieldError(reason, "");
      if (!confirm.checked) { confirmError.textContent = "Tick the box to confirm."; confirmError.hidden = false; confirm.focus(); return; }
      try {
        await api.post(`/credit-grants/${enc(g.id)}/void`, { reason: reason.input.value });
        close(); notify(`Credit grant “${g.name}” voided.`, true); done();
      } catch (err) { showApiError(err, { reason }, formError); }
    });
    body.append(form);
  });
}

async function deleteGrant(g, done) {
  const ok = await confirmDialog(`Delete ${g.name}?`, "Only a grant made by mistake, that nothing was applied from, can be deleted. The ledger keeps a DELETED entry.",
    { confirmLabel: "Delete grant", danger: true, action: () => api.del(`/credit-grants/${enc(g.id)}`) });
  if (ok) { notify(`Credit grant “${g.name}” deleted.`, true); done(); }
}

// ---------------------------------------------------------------- invoices
function invoicesScreen(invoiceId) {
  const lookup = field("Invoice id", input({ value: invoiceId || "", autocomplete: "off" }));
  const result = h("div");
  const form = h("form", { class: "filters", novalidate: true }, lookup.wrap, h("button", { type: "submit", class: "primary", text: "Look up" }));
  form.addEventListener("submit", (event) => { event.preventDefault(); const v = lookup.input.value.trim(); if (v) show(v); });
  clear(main).append(h("h1", { text: "Invoices" }), form, result, h("h2", { text: "Preview: what would credits do to this invoice?" }), previewForm());

  async function show(id) {
    showFieldError(lookup, "");
    try {
      const app = await api.get(`/credit-applications/${enc(id)}`);
      clear(result).append(applicationView(app, () => show(id)));
    } catch (err) {
      if (err.status === 404 || err.status === 400) { clear(result); showFieldError(lookup, err.message); } else notify(err.message);
    }
  }
  if (invoiceId) show(invoiceId);
}

function applicationView(app, reload) {
  const m = (v) => money(v, app.currency);
  const actions = [];
  if (app.status === "PENDING") {
    actions.push(button("Settle", async () => {
      if (await confirmDialog(`Settle ${app.invoiceId}?`, "The invoice was paid or finalized: pending credits become consumed.",
        { confirmLabel: "Settle", action: () => api.post(`/credit-applications/${enc(app.invoiceId)}/settle`) })) reload();
    }, { class: "primary write" }));
  }
  if (app.status === "PENDING" || app.status === "SETTLED") {
    actions.push(button("Release", async () => {
      if (await confirmDialog(`Release ${app.invoiceId}?`, "The invoice was voided: each allocation goes back to its grant.",
        { confirmLabel: "Release", danger: true, action: () => api.post(`/credit-applications/${enc(app.invoiceId)}/release`) })) reload();
    }, { class: "danger write" }));
  }
  return h("section", { "aria-label": `Application ${app.invoiceId}` },
    h("h2", {}, "Invoice ", h("span", { class: "kv", text: app.invoiceId }), " ", statusBadge(app.status)),
    h("p", {}, "Customer ", app.customerId ? h("a", { href: `#/customers/${enc(app.customerId)}`, text: app.customerId }) : "—"),
    table(["Subtotal", "Credits applied", "Total due"], [[m(app.subtotal), m(app.creditsApplied), m(app.totalDue)]], { caption: "Totals" }),
    table(["Line", "Amount", "Credits applied", "Amount due"], app.lines.map((l) => [h("span", { text: l.lineId }), m(l.amount), m(l.creditsApplied), m(l.amountDue)]), { caption: "Lines" }),
    table(["Grant", "Type", "Line", "Units", "Value"], app.allocations.map((a) => [h("span", { class: "kv", text: a.grantId }), a.type, h("span", { text: a.lineId }), a.units ?? "—", m(a.value)]),
      { caption: "Allocations per grant", empty: "No credits applied." }),
    h("div", { class: "actions" }, actions));
}

function previewForm() {
  const f = {
    customerId: field("Customer id", input({ autocomplete: "off" })),
    currency: field("Currency", select(CURRENCIES.map((c) => [c, c]))),
  };
  f.currency.input.value = "USD";
  const lines = h("div");
  const addLine = () => {
    const n = lines.children.length + 1;
    const row = h("div", { class: "row" },
      field(`Line ${n} amount`, input({ inputmode: "decimal", name: "amount" })).wrap,
      field(`Line ${n} metric (usage lines)`, input({ name: "metricId" })).wrap,
      field(`Line ${n} quantity`, input({ inputmode: "decimal", name: "quantity" })).wrap,
      field(`Line ${n} unit price`, input({ inputmode: "decimal", name: "unitPrice" })).wrap);
    lines.append(row);
  };
  addLine();
  const out = h("div");
  const formError = h("p", { class: "form-error", role: "alert", hidden: true });
  const form = h("form", { novalidate: true, "aria-label": "Preview an invoice" }, h("div", { class: "row" }, f.customerId.wrap, f.currency.wrap), lines,
    button("Add line", addLine), formError, h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", text: "Preview" })), out);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { invoiceId: `preview_${Date.now()}`, customerId: f.customerId.input.value.trim(), currency: f.currency.input.value, lines: [] };
    [...lines.children].forEach((row, i) => {
      const get = (name) => row.querySelector(`[name=${name}]`).value.trim();
      const line = { lineId: `l${i + 1}` };
      if (get("quantity")) { line.quantity = get("quantity"); line.unitPrice = get("unitPrice"); if (get("metricId")) line.metricId = get("metricId"); }
      else { line.amount = get("amount"); if (get("metricId")) line.metricId = get("metricId"); }
      body.lines.push(line);
    });
    try {
      const app = await api.post("/credit-applications/preview", body);
      formError.hidden = true;
      clear(out).append(applicationView(app, () => {}));
    } catch (err) { showApiError(err, f, formError); }
  });
  return form;
}

// ---------------------------------------------------------------- reports
function reportsScreen() {
  const f = {
    from: field("From", h("input", { type: "date", value: today(-30) })),
    to: field("To (inclusive)", h("input", { type: "date", value: today() })),
    customerId: field("Customer id", input({ autocomplete: "off" })),
    type: field("Credit type", select([["", "Any"], ["CASH", "Cash"], ["USAGE", "Unit"]])),
    currency: field("Currency", select([["", "Any"], ...CURRENCIES.map((c) => [c, c])])),
  };
  const out = h("div");
  const formError = h("p", { class: "form-error", role: "alert", hidden: true });
  const form = h("form", { class: "filters", novalidate: true, "aria-label": "Report filters" }, Object.values(f).map((x) => x.wrap),
    h("button", { type: "submit", class: "primary", text: "Run report" }));
  form.addEventListener("submit", (event) => { event.preventDefault(); run(); });
  clear(main).append(h("h1", { text: "Reports · Credits" }), form, formError, out);

  const nextDay = (d) => { const x = new Date(`${d}T00:00:00Z`); x.setUTCDate(x.getUTCDate() + 1); return x.toISOString().slice(0, 10); };
  const query = (from, toExclusive) => ({ from: `${from}T00:00:00Z`, to: `${toExclusive}T00:00:00Z`, customerId: f.customerId.input.value.trim(),
    type: f.type.input.value, currency: f.currency.input.value });

  async function run() {
    const from = f.from.input.value, to = f.to.input.value;
    Object.values(f).forEach((x) => showFieldError(x, "")); formError.hidden = true;
    if (!from) { showFieldError(f.from, "Choose a start date."); return; }
    if (!to) { showFieldError(f.to, "Choose an end date."); return; }
    let report;
    try { report = await api.get("/reports/credits", query(from, nextDay(to))); } catch (err) { showApiError(err, f, formError); return; }
    const label = (r) => (r.type === "CASH" ? `Cash · ${r.currency}` : `Units · ${r.metricId}`);
    const fmt = (r, v) => (r.type === "CASH" ? money(v, r.currency) : units(v, r.metricId));
    const columns = ["Credit", "Granted", "Applied", "Released", "Expired", "Voided", "Outstanding", "Outstanding value"];
    const rows = report.rows.map((r) => [label(r), fmt(r, r.granted), fmt(r, r.applied), fmt(r, r.released), fmt(r, r.expired), fmt(r, r.voided),
      fmt(r, r.outstanding), r.outstandingValue ? money(r.outstandingValue, r.currency) : "—"]);
    const csvRows = [["type", "currency", "metricId", "granted", "applied", "released", "expired", "voided", "outstanding", "outstandingValue"],
      ...report.rows.map((r) => [r.type, r.currency || "", r.metricId || "", r.granted, r.applied, r.released, r.expired, r.voided, r.outstanding, r.outstandingValue || ""])];
    const download = button("Download CSV", () => {
      const quote = (v) => (/[",\n\r]/.test(v) || /^[=+\-@]/.test(v) ? `"${String(v).replace(/^([=+\-@])/, "'$1").replace(/"/g, '""')}"` : v);
      const text = csvRows.map((r) => r.map((v) => quote(String(v))).join(",")).join("\r\n") + "\r\n";
      const a = h("a", { href: URL.createObjectURL(new Blob([text], { type: "text/csv" })), download: `credits-report_${from}_${to}.csv` });
      document.body.append(a); a.click(); a.remove();
    });
    const chartWrap = h("div");
    clear(out).append(h("div", { class: "toolbar" }, h("h2", { text: `Totals ${from} – ${to}` }), download),
      table(columns, rows, { caption: "Credits in the range and outstanding at its end", empty: "No credit activity in this range." }),
      h("h2", { text: "Granted, applied and expired over the range" }), chartWrap);
    if (report.rows.length) await chart(report.rows, from, to, chartWrap, label);
  }

  async function chart(rows, from, to, wrap, label) {
    const pick = field("Chart of", select(rows.map((r, i) => [String(i), label(r)])));
    const area = h("div");
    wrap.append(pick.wrap, h("div", { class: "legend" }, ["granted", "applied", "expired"].map((s) => h("span", {}, h("span", { class: `sw sw-${s}` }), s))), area);
    // Up to 8 buckets over the range, one report call each (in parallel).
    const start = new Date(`${from}T00:00:00Z`), end = new Date(`${nextDay(to)}T00:00:00Z`);
    const days = Math.max(1, Math.round((end - start) / 86400000));
    const step = Math.max(1, Math.ceil(days / 8));
    const edges = [];
    for (let d = new Date(start); d < end; d = new Date(d.getTime() + step * 86400000)) edges.push(d.toISOString().slice(0, 10));
    edges.push(end.toISOString().slice(0, 10));
    const buckets = await guarded(() => Promise.all(edges.slice(0, -1).map(async (b, i) => {
      const upto = edges[i + 1] > end.toISOString().slice(0, 10) ? end.toISOString().slice(0, 10) : edges[i + 1];
      const rep = await api.get("/reports/credits", query(b, upto));
      return { label: b.slice(5), rows: rep.rows };
    })));
    if (!buckets) return;
    const draw = () => {
      const r = rows[Number(pick.input.value)];
      const same = (x) => x.type === r.type && x.currency === r.currency && x.metricId === r.metricId;
      const data = buckets.map((b) => { const x = b.rows.find(same) || {}; return { label: b.label, values: { granted: x.granted || "0", applied: x.applied || "0", expired: x.expired || "0" } }; });
      clear(area).append(barChart({ buckets: data, series: ["granted", "applied", "expired"], title: `${label(r)}: granted, applied and expired per period` }));
    };
    pick.input.addEventListener("change", draw);
    draw();
  }
}

// ---------------------------------------------------------------- recurring grants
function schedulesScreen() {
  const filter = field("Customer id", input({ autocomplete: "off" }));
  const listWrap = h("div");
  const page = pager((cursor) => load(cursor));
  const form = h("form", { class: "filters", novalidate: true }, filter.wrap, h("button", { type: "submit", text: "Filter" }));
  form.addEventListener("submit", (event) => { event.preventDefault(); load({}); });
  clear(main).append(h("div", { class: "toolbar" }, h("h1", { text: "Recurring grants" }),
    h("button", { type: "button", class: "primary write", text: "New schedule", onclick: () => scheduleForm(() => load({})) })), form, listWrap, page.el);
  async function load(cursor) {
    await guarded(async () => {
      const data = await api.get("/credit-grant-schedules", { customerId: filter.input.value.trim(), limit: 20, ...cursor });
      const rows = data.items.map((s) => [h("a", { href: `#/customers/${enc(s.customerId)}`, text: s.customerId }), h("span", { text: s.grant.name }),
        s.grant.type === "USAGE" ? units(s.grant.amount, s.grant.metricId) : money(s.grant.amount, s.grant.currency),
        `every ${s.intervalCount} ${s.interval.toLowerCase()}${s.intervalCount > 1 ? "s" : ""}`, statusBadge(s.status), dateTime(s.nextGrantAt),
        s.status === "ACTIVE" ? button("Cancel", async () => {
          if (await confirmDialog("Cancel schedule?", "No further grants are made; the grants already made stay.",
            { confirmLabel: "Cancel schedule", danger: true, action: () => api.post(`/credit-grant-schedules/${enc(s.id)}/cancel`) })) load({});
        }, { class: "link write", "aria-label": `Cancel schedule ${s.id}` }) : "—"]);
      clear(listWrap).append(table(["Customer", "Grant", "Amount", "Interval", "Status", "Next grant", "Actions"], rows, { caption: "Schedules, newest first", empty: "No schedules." }));
      page.update(data.pagination, data.items.length);
    });
  }
  load({});
}

function scheduleForm(done) {
  openDialog("New recurring grant", (body, close) => {
    const f = {
      customerId: field("Customer id", input()),
      name: field("Grant name", input({ maxlength: "100" })),
      amount: field("Amount", input({ inputmode: "decimal" })),
      currency: field("Currency", select(CURRENCIES.map((c) => [c, c]))),
      interval: field("Interval", select([["MONTH", "Month"], ["WEEK", "Week"], ["DAY", "Day"], ["YEAR", "Year"]])),
      intervalCount: field("Every (intervals)", h("input", { type: "number", min: "1", value: "1" })),
      expireAfterIntervals: field("Expire after (intervals, optional)", h("input", { type: "number", min: "1" })),
    };
    f.currency.input.value = "USD";
    const formError = h("p", { class: "form-error", role: "alert", hidden: true });
    const form = h("form", { novalidate: true }, Object.values(f).map((x) => x.wrap), formError,
      h("div", { class: "actions" }, button("Cancel", () => close()), h("button", { type: "submit", class: "primary", text: "Create schedule" })));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const payload = { customerId: f.customerId.input.value.trim(), interval: f.interval.input.value,
        intervalCount: Number.parseInt(f.intervalCount.input.value || "1", 10),
        grant: { name: f.name.input.value, type: "CASH", amount: f.amount.input.value.trim(), currency: f.currency.input.value } };
      if (f.expireAfterIntervals.input.value) payload.expireAfterIntervals = Number.parseInt(f.expireAfterIntervals.input.value, 10);
      try { await api.post("/credit-grant-schedules", payload); close(); notify("Schedule created.", true); done(); } catch (err) {
        const map = { ...f, grant: f.name };
        if (err.field && err.field.startsWith("grant.")) { const k = err.field.split(".")[1]; showApiError({ ...err, message: err.message, status: err.status, field: k }, f, formError); } else showApiError(err, map, formError);
      }
    });
    body.append(form);
  });
}

// ---------------------------------------------------------------- settings: tax rates
function settingsScreen() {
  const listWrap = h("div");
  const f = {
    name: field("Name", input({ maxlength: "100" })),
    percentage: field("Percentage", input({ inputmode: "decimal" })),
  };
  const inclusive = h("input", { type: "checkbox", id: "tax-inclusive" });
  const formError = h("p", { class: "form-error", role: "alert", hidden: true });
  const form = h("form", { class: "filters write", novalidate: true, "aria-label": "New tax rate" }, f.name.wrap, f.percentage.wrap,
    h("div", { class: "field" }, h("label", {}, inclusive, " Inclusive")), h("button", { type: "submit", class: "primary", text: "Add tax rate" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api.post("/tax-rates", { name: f.name.input.value, percentage: f.percentage.input.value.trim(), inclusive: inclusive.checked });
      f.name.input.value = ""; f.percentage.input.value = ""; formError.hidden = true;
      Object.values(f).forEach((x) => showFieldError(x, ""));
      notify("Tax rate added.", true); load();
    } catch (err) { showApiError(err, f, formError); }
  });
  clear(main).append(h("h1", { text: "Settings" }), h("h2", { text: "Tax rates" }), form, formError, listWrap);
  async function load() {
    await guarded(async () => {
      const items = [];
      let after = null;
      do { const page = await api.get("/tax-rates", { limit: 100, after }); items.push(...page.items); after = page.pagination.after; } while (after);
      const rows = items.map((t) => [h("span", { text: t.name }), `${t.percentage}%`, t.inclusive ? "inclusive" : "exclusive", t.active ? "active" : "inactive",
        h("span", { class: "kv", text: t.id }),
        h("div", { class: "cell-actions" },
          button("Rename", () => renameTaxRate(t, load), { class: "link write", "aria-label": `Rename ${t.name}` }),
          button(t.active ? "Deactivate" : "Activate", async () => {
            await guarded(async () => { await api.patch(`/tax-rates/${enc(t.id)}`, { active: !t.active }); load(); });
          }, { class: "link write", "aria-label": `${t.active ? "Deactivate" : "Activate"} ${t.name}` }))]);
      clear(listWrap).append(table(["Name", "Rate", "Kind", "State", "Id", "Actions"], rows, { caption: "The account's tax rates", empty: "No tax rates yet." }));
    });
  }
  load();
}

function renameTaxRate(t, done) {
  openDialog(`Rename ${t.name}`, (body, close) => {
    const name = field("Name", input({ value: t.name, maxlength: "100" }));
    const formError = h("p", { class: "form-error", role: "alert", hidden: true });
    const form = h("form", { novalidate: true }, name.wrap, formError,
      h("div", { class: "actions" }, button("Cancel", () => close()), h("button", { type: "submit", class: "primary", text: "Save" })));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try { await api.patch(`/tax-rates/${enc(t.id)}`, { name: name.input.value }); close(); done(); } catch (err) { showApiError(err, { name }, formError); }
    });
    body.append(form);
  });
}

// ---------------------------------------------------------------- API keys (admin keys only)
function keysScreen() {
  const listWrap = h("div");
  const f = {
    name: field("Name", input({ maxlength: "100" })),
    scope: field("Scope", select([["read", "read: reads only"], ["write", "write: everything but keys"], ["admin", "admin: everything"]])),
  };
  const formError = h("p", { class: "form-error", role: "alert", hidden: true });
  const shown = h("div", { class: "new-key", "aria-live": "polite" });
  const form = h("form", { class: "filters", novalidate: true, "aria-label": "New API key" }, f.name.wrap, f.scope.wrap,
    h("button", { type: "submit", class: "primary", text: "Create key" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const made = await api.post("/api-keys", { name: f.name.input.value, scope: f.scope.input.value });
      f.name.input.value = ""; formError.hidden = true; showFieldError(f.name, "");
      clear(shown).append(h("p", { text: `Key "${made.name}" (${made.scope}) — copy it now, it is not shown again:` }),
        h("code", { class: "kv secret", text: made.key }));
      load();
    } catch (err) { showApiError(err, f, formError); }
  });
  clear(main).append(h("h1", { text: "API keys" }), form, formError, shown, listWrap);
  async function load() {
    await guarded(async () => {
      const items = [];
      let after = null;
      do { const page = await api.get("/api-keys", { limit: 100, after }); items.push(...page.items); after = page.pagination.after; } while (after);
      const rows = items.map((k) => [h("span", { text: k.name }), k.scope, dateTime(k.createdAt), k.lastUsedAt ? dateTime(k.lastUsedAt) : "never",
        k.revokedAt ? `revoked ${dateTime(k.revokedAt)}` : "active", h("span", { class: "kv", text: k.id }),
        k.revokedAt ? "—" : button("Revoke", async () => {
          if (await confirmDialog(`Revoke ${k.name}?`, "Requests with this key are refused from now on (within a minute).",
            { confirmLabel: "Revoke key", danger: true, action: () => api.post(`/api-keys/${enc(k.id)}/revoke`) })) load();
        }, { class: "link", "aria-label": `Revoke ${k.name}` })]);
      clear(listWrap).append(table(["Name", "Scope", "Created", "Last used", "State", "Id", "Actions"], rows,
        { caption: "The account's API keys, oldest first", empty: "No keys." }));
    });
  }
  load();
}

// ---------------------------------------------------------------- test clocks (not in live mode)
function clocksScreen(clockId) {
  if (clockId) { clockScreen(clockId); return; }
  const f = { name: field("Name", input({ maxlength: "100" })), frozenTime: field("Frozen time (UTC)", input({ placeholder: "2027-01-01T00:00:00Z" })) };
  const formError = h("p", { class: "form-error", role: "alert", hidden: true });
  const listWrap = h("div");
  const form = h("form", { class: "filters write", novalidate: true, "aria-label": "New test clock" }, f.name.wrap, f.frozenTime.wrap,
    h("button", { type: "submit", class: "primary", text: "Create test clock" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const clock = await api.post("/test-clocks", { name: f.name.input.value, frozenTime: f.frozenTime.input.value.trim() });
      location.hash = `#/clocks/${enc(clock.id)}`;
    } catch (err) { showApiError(err, f, formError); }
  });
  clear(main).append(h("h1", { text: "Test clocks" }), form, formError, listWrap);
  guarded(async () => {
    try {
      const data = await api.get("/test-clocks", { limit: 100 });
      const rows = data.items.map((c) => [h("a", { href: `#/clocks/${enc(c.id)}`, text: c.name }), dateTime(c.frozenTime), statusBadge(c.status), h("span", { class: "kv", text: c.id })]);
      clear(listWrap).append(table(["Name", "Clock time", "Status", "Id"], rows, { caption: "Test clocks, newest first", empty: "No test clocks." }));
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) { clear(listWrap).append(h("p", { text: "Test clocks are not available in live mode." })); return; }
      throw err;
    }
  });
}

function clockScreen(clockId) {
  const head = h("div"), listWrap = h("div");
  const attach = field("Customer id (with nothing yet)", input({ autocomplete: "off" }));
  const target = field("Advance to (UTC)", input({ placeholder: "2028-01-01T00:00:00Z" }));
  const formError = h("p", { class: "form-error", role: "alert", hidden: true });
  const attachForm = h("form", { class: "filters write", novalidate: true, "aria-label": "Attach a customer" }, attach.wrap, h("button", { type: "submit", text: "Attach" }));
  const advanceForm = h("form", { class: "filters write", novalidate: true, "aria-label": "Advance the clock" }, target.wrap, h("button", { type: "submit", class: "primary", text: "Advance" }));
  attachForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    try { await api.post(`/test-clocks/${enc(clockId)}/customers`, { customerId: attach.input.value.trim() }); attach.input.value = ""; load(); } catch (err) { showApiError(err, { customerId: attach }, formError); }
  });
  advanceForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const clock = await api.post(`/test-clocks/${enc(clockId)}/advance`, { frozenTime: target.input.value.trim() });
      notify(clock.status === "READY" ? "Advanced." : "Advancing: it goes on in the background.", true); load();
    } catch (err) { showApiError(err, { frozenTime: target }, formError); }
  });
  clear(main).append(h("p", {}, h("a", { href: "#/clocks", text: "← Test clocks" })), head, advanceForm, attachForm, formError, listWrap);
  async function load() {
    await guarded(async () => {
      const [clock, customers] = await Promise.all([api.get(`/test-clocks/${enc(clockId)}`), api.get(`/test-clocks/${enc(clockId)}/customers`, { limit: 100 })]);
      clear(head).append(h("h1", { text: clock.name }), h("p", {}, "Clock time ", h("strong", { text: dateTime(clock.frozenTime) }), " · ", statusBadge(clock.status),
        clock.advancingTo ? ` → ${dateTime(clock.advancingTo)}` : ""));
      const rows = customers.items.map((c) => [h("a", { href: `#/customers/${enc(c.customerId)}`, text: c.customerId }), dateTime(c.frozenTime)]);
      clear(listWrap).append(table(["Customer", "Clock time"], rows, { caption: "The clock's customers", empty: "No customers on this clock yet." }));
      if (clock.status === "ADVANCING") setTimeout(() => { if (location.hash === `#/clocks/${enc(clockId)}`) load(); }, 1500);
    });
  }
  load();
}

// ---------------------------------------------------------------- router
function route() {
  const hash = location.hash.replace(/^#/, "") || "/customers";
  if (!api.signedIn()) { signInScreen(); return; }
  nav.hidden = false; signOutButton.hidden = false;
  showIdentity();
  const parts = hash.split("/").filter(Boolean).map((p) => { try { return decodeURIComponent(p); } catch { return p; } });
  for (const a of nav.querySelectorAll("a")) {
    if (a.getAttribute("href") === `#/${parts[0]}`) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  notify("");
  const screens = {
    customers: () => (parts[1] ? customerScreen(parts[1]) : customersScreen()),
    invoices: () => invoicesScreen(parts[1]),
    reports: () => reportsScreen(),
    schedules: () => schedulesScreen(),
    settings: () => settingsScreen(),
    keys: () => keysScreen(),
    clocks: () => clocksScreen(parts[1]),
  };
  const screen = screens[parts[0]] || screens.customers;
  Promise.resolve().then(screen).catch((err) => notify(err.message || String(err)));
}

window.addEventListener("hashchange", route);
route();
