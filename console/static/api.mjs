// The console's only way to the service: its own API, same origin as the page. The API key
// lives in this tab's sessionStorage; it is sent only in the Authorization header of requests
// to this origin, never in a URL, never logged.

const KEY = "credits.console.apiKey";
const WHO = "credits.console.identity"; // the key's name and scope (never the key)
export const API_BASE = new URL("../", document.baseURI);

export function signedIn() { return Boolean(sessionStorage.getItem(KEY)); }
export function signIn(key, who = { name: "API key", scope: "admin" }) {
  sessionStorage.setItem(KEY, key);
  sessionStorage.setItem(WHO, JSON.stringify(who));
}
export function identity() {
  try { return JSON.parse(sessionStorage.getItem(WHO)) || { name: "API key", scope: "admin" }; } catch { return { name: "API key", scope: "admin" }; }
}
export function signOut() { sessionStorage.removeItem(KEY); sessionStorage.removeItem(WHO); }

export class ApiError extends Error {
  constructor(status, body) {
    const err = (body && body.error) || {};
    super(err.message || `request failed (HTTP ${status})`);
    this.status = status;
    this.code = err.code || "error";
    this.details = Array.isArray(err.details) ? err.details : [];
  }
  // The field a validation error names (details[0].field), if any.
  get field() {
    const d = this.details.find((x) => x && x.field);
    return d ? String(d.field) : null;
  }
}

let inflight = 0;
const listeners = new Set();
export function onBusy(fn) { listeners.add(fn); }
function busy(delta) { inflight += delta; listeners.forEach((fn) => fn(inflight > 0)); }

export async function call(method, path, { query, body, key } = {}) {
  const url = new URL(path.replace(/^\//, ""), API_BASE);
  if (url.origin !== window.location.origin) throw new Error("the console only talks to its own API");
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  }
  const apiKey = key || sessionStorage.getItem(KEY);
  const headers = { Accept: "application/json" };
  if (apiKey) headers.Authorization = `Bearer ${apiKey}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  busy(1);
  try {
    const response = await fetch(url, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit", cache: "no-store", redirect: "error", referrerPolicy: "no-referrer",
    });
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = null; }
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  } catch (err) {
    if (err instanceof ApiError) throw err;
    throw new ApiError(0, { error: { message: `network error: ${err.message}` } });
  } finally {
    busy(-1);
  }
}

export const get = (path, query) => call("GET", path, { query });
export const post = (path, body) => call("POST", path, { body: body ?? {} });
export const patch = (path, body) => call("PATCH", path, { body });
export const del = (path) => call("DELETE", path);
export const enc = encodeURIComponent;
