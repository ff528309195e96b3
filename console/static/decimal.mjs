// Exact decimal arithmetic on plain decimal strings ("12.50", "0.000125"), with BigInt: never
// binary floating point. Rounding is half-even, as the service rounds (money.round_places).

const PLAIN = /^[0-9]+(\.[0-9]+)?$/;

export function isPlainDecimal(text) {
  return typeof text === "string" && PLAIN.test(text);
}

export function parse(text) {
  if (!isPlainDecimal(text)) throw new Error(`not a plain decimal: ${text}`);
  const [whole, frac = ""] = text.split(".");
  return { n: BigInt(whole + frac), s: frac.length };
}

const TEN = 10n;
const pow10 = (k) => TEN ** BigInt(k);

// Integer num / den rounded half-even (num >= 0, den > 0).
function divHalfEven(num, den) {
  const q = num / den;
  const r2 = (num % den) * 2n;
  if (r2 > den || (r2 === den && q % 2n === 1n)) return q + 1n;
  return q;
}

// {n, s} -> string with exactly s fractional digits.
export function format({ n, s }) {
  let digits = n.toString();
  if (s === 0) return digits;
  digits = digits.padStart(s + 1, "0");
  return `${digits.slice(0, -s)}.${digits.slice(-s)}`;
}

// Without trailing fractional zeros ("0.002000" -> "0.002", "20.00" -> "20").
export function trim(text) {
  return text.includes(".") ? text.replace(/0+$/, "").replace(/\.$/, "") : text;
}

// Round half-even to exactly `places` fractional digits.
export function roundTo(x, places) {
  if (x.s <= places) return { n: x.n * pow10(places - x.s), s: places };
  return { n: divHalfEven(x.n, pow10(x.s - places)), s: places };
}

export function multiply(a, b) {
  return { n: a.n * b.n, s: a.s + b.s };
}

// a / b rounded half-even to `places` fractional digits (b > 0).
export function divide(a, b, places) {
  if (b.n === 0n) throw new Error("division by zero");
  return { n: divHalfEven(a.n * pow10(b.s + places), b.n * pow10(a.s)), s: places };
}

export function isZero(text) {
  return parse(text).n === 0n;
}

export function compare(a, b) {
  const x = parse(a), y = parse(b);
  const s = Math.max(x.s, y.s);
  const l = x.n * pow10(s - x.s), r = y.n * pow10(s - y.s);
  return l < r ? -1 : l > r ? 1 : 0;
}

export function add(a, b) {
  const x = parse(a), y = parse(b);
  const s = Math.max(x.s, y.s);
  return format({ n: x.n * pow10(s - x.s) + y.n * pow10(s - y.s), s });
}

export function subtract(a, b) { // a >= b
  const x = parse(a), y = parse(b);
  const s = Math.max(x.s, y.s);
  const n = x.n * pow10(s - x.s) - y.n * pow10(s - y.s);
  if (n < 0n) return "-" + format({ n: -n, s });
  return format({ n, s });
}

export const PRICE_PLACES = 12;

// The service's rule (POST /credit-grants, USAGE): costOfCredit = pricePerUnit x amount rounded
// half-even to the currency's digits; pricePerUnit = costOfCredit / amount rounded half-even to 12.
export function totalFromPrice(pricePerUnit, units, currencyDigits) {
  return format(roundTo(multiply(parse(pricePerUnit), parse(units)), currencyDigits));
}

export function priceFromTotal(total, units) {
  const u = parse(units);
  if (u.n === 0n) throw new Error("units must be above zero");
  return trim(format(divide(parse(total), u, PRICE_PLACES)));
}
