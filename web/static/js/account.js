// account.js: the signed-in person of the court network's pages (/login, /admin, /officer,
// /liaison, …) and the one way those pages call the API.
//
// The session token from POST /api/login is kept in sessionStorage ("cloudcourt.session"): it
// lasts as long as the browser tab, not on the shared machine of a site after the tab closes.
// The admin key may stand in for a session (the bootstrap, before any admin account exists).
//
//   import * as account from "/static/js/account.js";
//   const me = await account.requireAccount(["officer"]);  // the account; null for the admin
//                                   // key; undefined when the page is going to /login (or to the
//                                   // page of the account's own role). admin always passes.
//   await account.api("GET", "/api/sites")   // parsed JSON (null for 204); throws ApiError
//                                   // {status, message: the server's sentence}; a 401 clears the
//                                   // session and goes to /login?next=<this page>
//   account.sessionToken()  account.saveSession(token)  account.logout()  account.toLogin()
//   account.homeFor(role)   // the page for a role: admin→/admin, officer and mediator→/officer,
//                           // judge and command→/liaison

const KEY = "cloudcourt.session";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function sessionToken() {
  try {
    return sessionStorage.getItem(KEY);
  } catch (_) {
    return null; // storage disabled: every page asks for a login
  }
}

export function saveSession(token) {
  try {
    sessionStorage.setItem(KEY, token);
  } catch (_) {
    // Not kept: the next page asks again.
  }
}

export function clearSession() {
  try {
    sessionStorage.removeItem(KEY);
  } catch (_) {
    // Nothing kept.
  }
}

const HOMES = { admin: "/admin", officer: "/officer", mediator: "/officer", judge: "/liaison", command: "/liaison" };

export function homeFor(role) {
  return HOMES[role] || "/admin";
}

// To the login page, which brings the person back here afterwards (same origin paths only).
export function toLogin() {
  clearSession();
  const next = location.pathname + location.search;
  location.assign(`/login?next=${encodeURIComponent(next)}`);
}

export async function api(method, path, body) {
  const headers = {};
  const token = sessionToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  const init = { method, headers, cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (_) {
    throw new ApiError(0, "network");
  }
  if (res.status === 401 && token) {
    toLogin();
  }
  if (res.status === 204) return null;
  let data = null;
  try {
    data = await res.json();
  } catch (_) {
    // Not JSON: the status says enough.
  }
  if (!res.ok) throw new ApiError(res.status, (data && data.error) || `HTTP ${res.status}`);
  return data;
}

// Who is signed in: GET /api/me. Not signed in → /login; signed in with another role → that
// role's own page (admin accounts and the admin key may open any page).
export async function requireAccount(roles) {
  if (!sessionToken()) {
    toLogin();
    return undefined;
  }
  let me;
  try {
    me = await api("GET", "/api/me");
  } catch (err) {
    if (err.status === 401) return undefined; // api() is taking the page to /login
    throw err;
  }
  if (me.admin || !roles || roles.includes(me.account.role)) return me.account;
  location.assign(homeFor(me.account.role));
  return undefined;
}

export async function logout() {
  try {
    await api("POST", "/api/logout");
  } catch (_) {
    // Signed out on this side whatever the server said: the token is forgotten.
  }
  clearSession();
  location.assign("/login");
}
