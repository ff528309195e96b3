// Money in the currency's format, units with their metric, dates and times: display only.

// The service's currency table (layers/credits/credits/money.py CURRENCY_DIGITS; a test checks
// that the two agree).
export const CURRENCY_DIGITS = {
  AED: 2, ARS: 2, AUD: 2, BRL: 2, BGN: 2, CAD: 2, CHF: 2, CLP: 0,
  CNY: 2, COP: 2, CZK: 2, DKK: 2, EGP: 2, EUR: 2, GBP: 2, HKD: 2,
  ILS: 2, INR: 2, ISK: 0, JPY: 0, KRW: 0, MXN: 2, NOK: 2, NZD: 2,
  PLN: 2, SAR: 2, SEK: 2, SGD: 2, THB: 2, USD: 2, UYU: 2, ZAR: 2,
};
export const CURRENCIES = Object.keys(CURRENCY_DIGITS).sort();

function group(text) {
  const [whole, frac] = text.split(".");
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return frac !== undefined ? `${grouped}.${frac}` : grouped;
}

const SYMBOLS = { USD: "$", EUR: "€", GBP: "£", JPY: "¥", CAD: "CA$", AUD: "A$", INR: "₹", KRW: "₩", CNY: "CN¥" };

// "1234.5", "USD" -> "$1,234.50"; the amount stays a string (no float on the way).
export function money(amount, currency) {
  if (amount === null || amount === undefined) return "—";
  let text = String(amount);
  const negative = text.startsWith("-");
  if (negative) text = text.slice(1);
  const digits = CURRENCY_DIGITS[currency];
  if (digits !== undefined && /^[0-9]+(\.[0-9]+)?$/.test(text)) {
    const [w, f = ""] = text.split(".");
    text = digits === 0 ? w : `${w}.${(f + "0".repeat(digits)).slice(0, Math.max(digits, f.length))}`;
  }
  const symbol = SYMBOLS[currency];
  const body = group(text);
  const shown = symbol ? `${symbol}${body}` : `${body} ${currency || ""}`.trim();
  return negative ? `-${shown}` : shown;
}

export function units(amount, metric) {
  if (amount === null || amount === undefined) return "—";
  return `${group(String(amount))} ${metric || "units"}`;
}

// An amount of a grant (or of a ledger entry of that grant): money for CASH, units for USAGE.
export function amountOf(amount, grant) {
  if (!grant) return String(amount);
  return grant.type === "USAGE" ? units(amount, grant.metricId) : money(amount, grant.currency);
}

export function dateTime(iso) {
  if (!iso) return "—";
  return iso.replace("T", " ").replace(/\.\d+Z$/, "Z").replace("Z", " UTC");
}

export function today(offsetDays = 0) {
  const d = new Date(Date.now() + offsetDays * 86400000);
  return d.toISOString().slice(0, 10);
}
