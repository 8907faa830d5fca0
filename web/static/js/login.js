// /login: a person signs in with a username and password (POST /api/login); the session goes
// into sessionStorage (js/account.js) and the page moves on to ?next= (a path of this site) or
// to the page of the account's role. The admin key may be given instead, for the bootstrap.

import * as i18n from "./i18n.js";
import * as account from "./account.js";

const $ = (id) => document.getElementById(id);

// Only a path of this site: "?next=https://elsewhere" must not send a signed-in person away.
function nextPage(fallback) {
  const next = new URLSearchParams(location.search).get("next");
  if (next && next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/login")) return next;
  return fallback;
}

function showError(text) {
  $("login-error").textContent = text;
  $("login-error").hidden = false;
}

async function post(path, body) {
  const res = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
    cache: "no-store",
  });
  let data = null;
  try {
    data = await res.json();
  } catch (_) {
    // Not JSON.
  }
  return { res, data };
}

async function login(event) {
  event.preventDefault();
  $("login-error").hidden = true;
  $("login-submit").disabled = true;
  try {
    const { res, data } = await post("/api/login", {
      username: $("username").value.trim(),
      password: $("password").value,
    });
    if (res.status === 200) {
      account.saveSession(data.session);
      location.assign(nextPage(account.homeFor(data.account.role)));
      return;
    }
    if (res.status === 429) {
      const seconds = Number(res.headers.get("Retry-After")) || 900;
      showError(i18n.t("net.login.locked", { minutes: Math.ceil(seconds / 60) }));
    } else if (res.status === 401) {
      showError(i18n.t("net.login.wrong"));
    } else {
      showError(i18n.t("net.error", { error: (data && data.error) || `HTTP ${res.status}` }));
    }
  } catch (_) {
    showError(i18n.t("net.network_error"));
  } finally {
    $("login-submit").disabled = false;
  }
}

async function withKey(event) {
  event.preventDefault();
  $("login-error").hidden = true;
  const key = $("admin-key").value.trim();
  const res = await fetch("/api/me", { headers: { Authorization: `Bearer ${key}` }, cache: "no-store" });
  const data = res.ok ? await res.json() : null;
  if (!data || !data.admin || data.account) {
    showError(i18n.t("net.login.admin_key_wrong"));
    return;
  }
  account.saveSession(key);
  location.assign(nextPage("/admin"));
}

async function main() {
  await i18n.use("/static/i18n/{lang}.json");
  await i18n.use("/static/i18n/network.{lang}.json");
  i18n.apply();
  i18n.bindSwitch($("lang-switch"));
  $("login-form").addEventListener("submit", login);
  $("key-form").addEventListener("submit", withKey);
  $("username").focus();
}

main();
