// /admin: the court network's administration (docs/NETWORK.md). Sites: the list with each
// one's online dot (refreshed every few seconds from GET /api/sites), register, edit, retire;
// a site's kiosks: enrol (the credential is shown once, with the kiosk link for a QR code) and
// revoke. People: accounts with roles; create, deactivate, reactivate, reset a password.
// Everything goes through the documented API with the session of js/account.js.

import * as i18n from "./i18n.js";
import * as account from "./account.js";
import { el } from "./dom.js";

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 5000;
const TRADES = ["family", "neighbour", "sale", "finance", "property", "traffic", "construction", "tourism", "labour", "other"];

const state = {
  sites: [],
  accounts: [],
  editing: null, // the site being edited, or null for a new one
  devicesOf: null, // the id of the site whose kiosks are shown
  armed: null, // the id of the site whose retire button asks for a second click
  secret: null, // {site_id, credential, kiosk_url}: shown until the card closes
};

function showError(err) {
  const text = err && err.status === 0 ? i18n.t("net.network_error") : i18n.t("net.error", { error: err.message || String(err) });
  $("admin-error").textContent = text;
  $("admin-error").hidden = false;
}

function clearError() {
  $("admin-error").hidden = true;
}

function notice(text) {
  $("admin-notice").textContent = text;
  $("admin-notice").hidden = !text;
}

// A moment as the court reads it: local date and time, minutes.
function when(iso) {
  if (!iso) return i18n.t("admin.never");
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(i18n.getLang(), { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

function dot(stateName, text) {
  return el("span", { class: "dot", "data-state": stateName }, text);
}

function siteState(site) {
  if (site.retired) return "retired";
  return site.online ? "online" : "offline";
}

// ------------------------------------------------------------------------------------ sites
async function loadSites() {
  const retired = $("show-retired").checked ? "true" : "false";
  const reply = await account.api("GET", `/api/sites?include_retired=${retired}`);
  state.sites = reply.sites;
  renderSites();
  renderDevices();
}

function renderSites() {
  const body = $("sites-body");
  body.replaceChildren();
  $("sites-empty").hidden = state.sites.length > 0;
  for (const site of state.sites) {
    const st = siteState(site);
    const place = [site.county, site.township, site.village].filter(Boolean).join(" · ");
    const people = [
      site.liaison_judge && i18n.t("admin.judge_is", { name: site.liaison_judge.name }),
      site.officer && i18n.t("admin.officer_is", { name: site.officer.name }),
      site.mediators.length ? i18n.t("admin.mediators_are", { names: site.mediators.map((m) => m.name).join("、") }) : null,
    ].filter(Boolean);
    const actions = el("td", { class: "actions" });
    if (!site.retired) {
      actions.append(
        el("button", { type: "button", class: "edit", onclick: () => openEditor(site) }, i18n.t("admin.edit")),
        el("button", { type: "button", class: "devices", onclick: () => openDevices(site.id) }, i18n.t("admin.devices")),
        el(
          "button",
          { type: "button", class: "danger retire", onclick: () => retire(site) },
          i18n.t(state.armed === site.id ? "admin.retire_confirm" : "admin.retire"),
        ),
      );
    }
    body.append(
      el(
        "tr",
        { dataset: { siteId: site.id, state: st } },
        el("td", { "data-label": i18n.t("admin.col_state") }, dot(st, i18n.t(`admin.state_${st}`))),
        el(
          "td",
          { "data-label": i18n.t("admin.col_site") },
          el("strong", { class: "site-name" }, site.name),
          " ",
          el("span", { class: "tag" }, i18n.t(`net.kind.${site.kind}`)),
          el("div", { class: "detail" }, site.address),
        ),
        el("td", { "data-label": i18n.t("admin.col_place") }, place),
        el("td", { "data-label": i18n.t("admin.col_people") }, people.length ? people.join("；") : i18n.t("admin.nobody")),
        el("td", { "data-label": i18n.t("admin.col_heartbeat") }, when(site.last_heartbeat_at)),
        actions,
      ),
    );
  }
}

function options(select, role, selected) {
  select.replaceChildren(el("option", { value: "" }, i18n.t("admin.none")));
  for (const a of state.accounts.filter((x) => x.role === role && (x.active || x.id === selected))) {
    select.append(el("option", { value: a.id }, `${a.name}（${a.username}）`));
  }
  select.value = selected || "";
}

function checks(container, values, labelOf, chosen, name) {
  container.replaceChildren();
  for (const value of values) {
    const box = el("input", { type: "checkbox", value, name });
    box.checked = chosen.includes(value);
    container.append(el("label", {}, box, " ", labelOf(value)));
  }
}

function kindChanged() {
  const kind = $("site-kind").value;
  $("site-village-box").hidden = kind !== "village";
  $("site-village").required = kind === "village";
  $("site-trades-box").hidden = kind !== "association";
}

function gridText(members) {
  return members.map((g) => [g.name, g.phone, g.area].filter(Boolean).join(" ")).join("\n");
}

// One grid member a line: name, then phone (digits, may be the masked one shown), then area.
function parseGrid(text) {
  const members = [];
  for (const line of text.split("\n")) {
    const parts = line.split(/[,，\s]+/).filter(Boolean);
    if (!parts.length) continue;
    const member = { name: parts.shift() };
    if (parts.length && /^[+0-9*][0-9* -]*$/.test(parts[0])) member.phone = parts.shift();
    if (parts.length) member.area = parts.join(" ");
    members.push(member);
  }
  return members;
}

function openEditor(site) {
  state.editing = site;
  const s = site || { kind: "township", mediator_ids: [], trades: [], equipment: [], grid_members: [] };
  $("site-editor-title").textContent = i18n.t(site ? "admin.site_edit_title" : "admin.site_new_title", { name: site ? site.name : "" });
  $("site-submit").textContent = i18n.t(site ? "admin.save" : "admin.register");
  $("site-kind").value = s.kind;
  for (const [id, key] of [["site-name", "name"], ["site-county", "county"], ["site-township", "township"], ["site-village", "village"], ["site-address", "address"]]) {
    $(id).value = s[key] || "";
  }
  options($("site-judge"), "judge", s.liaison_judge_id);
  options($("site-officer"), "officer", s.officer_id);
  const mediators = state.accounts.filter((a) => a.role === "mediator" && (a.active || s.mediator_ids.includes(a.id)));
  const names = Object.fromEntries(mediators.map((m) => [m.id, m.name]));
  checks($("site-mediators"), mediators.map((m) => m.id), (id) => names[id], s.mediator_ids, "mediator");
  if (!mediators.length) $("site-mediators").append(el("span", { class: "empty" }, i18n.t("admin.no_mediators")));
  checks($("site-trades"), TRADES, (code) => i18n.t(`net.trade.${code}`), s.trades, "trade");
  $("site-equipment").value = s.equipment.join("、");
  $("site-grid").value = gridText(s.grid_members);
  kindChanged();
  $("site-editor").hidden = false;
  $("site-name").focus();
}

function closeEditor() {
  state.editing = null;
  $("site-editor").hidden = true;
}

function siteBody() {
  const kind = $("site-kind").value;
  const text = (id) => $(id).value.trim();
  const chosen = (id) => [...$(id).querySelectorAll("input:checked")].map((x) => x.value);
  const body = {
    kind,
    name: text("site-name"),
    county: text("site-county"),
    township: text("site-township"),
    address: text("site-address"),
    mediator_ids: chosen("site-mediators"),
    trades: kind === "association" ? chosen("site-trades") : [],
    equipment: text("site-equipment").split(/[、,，\n]+/).map((x) => x.trim()).filter(Boolean),
    grid_members: parseGrid($("site-grid").value),
  };
  const editing = state.editing !== null;
  // A new site leaves out what it has not; an edit clears it with null.
  const optional = { village: kind === "village" ? text("site-village") : "", liaison_judge_id: $("site-judge").value, officer_id: $("site-officer").value };
  for (const [key, value] of Object.entries(optional)) {
    if (value) body[key] = value;
    else if (editing) body[key] = null;
  }
  return body;
}

async function submitSite(event) {
  event.preventDefault();
  clearError();
  try {
    const body = siteBody();
    if (state.editing) {
      await account.api("PATCH", `/api/sites/${state.editing.id}`, body);
      notice(i18n.t("admin.site_saved", { name: body.name }));
    } else {
      await account.api("POST", "/api/sites", body);
      notice(i18n.t("admin.site_registered", { name: body.name }));
    }
    closeEditor();
    await loadSites();
  } catch (err) {
    showError(err);
  }
}

async function retire(site) {
  if (state.armed !== site.id) {
    state.armed = site.id; // a second click retires: a retired site cannot come back
    renderSites();
    return;
  }
  state.armed = null;
  clearError();
  try {
    await account.api("POST", `/api/sites/${site.id}/retire`);
    notice(i18n.t("admin.site_retired", { name: site.name }));
    if (state.devicesOf === site.id) closeDevices();
    await loadSites();
  } catch (err) {
    showError(err);
  }
}

// ------------------------------------------------------------------------------------ kiosks
function openDevices(siteId) {
  state.devicesOf = siteId;
  state.secret = null;
  $("devices-card").hidden = false;
  renderDevices();
  $("device-label").focus();
}

function closeDevices() {
  state.devicesOf = null;
  state.secret = null;
  $("devices-card").hidden = true;
}

function renderDevices() {
  if (!state.devicesOf) return;
  const site = state.sites.find((s) => s.id === state.devicesOf);
  if (!site) {
    closeDevices();
    return;
  }
  $("devices-title").textContent = i18n.t("admin.devices_of", { name: site.name });
  const secret = state.secret && state.secret.site_id === site.id ? state.secret : null;
  $("device-secret").hidden = !secret;
  if (secret) {
    $("device-credential").textContent = secret.credential;
    $("device-link").href = secret.kiosk_url;
  }
  const body = $("devices-body");
  body.replaceChildren();
  $("devices-empty").hidden = site.devices.length > 0;
  for (const d of site.devices) {
    const st = d.revoked ? "retired" : d.online ? "online" : "offline";
    const status = d.last_status
      ? [
          i18n.t(d.last_status.camera ? "admin.camera_ok" : "admin.camera_bad"),
          i18n.t(d.last_status.microphone ? "admin.mic_ok" : "admin.mic_bad"),
          d.last_status.app_version || "",
        ].filter(Boolean).join(" · ")
      : "";
    const actions = el("td", { class: "actions" });
    if (!d.revoked) {
      actions.append(el("button", { type: "button", class: "danger revoke", onclick: () => revoke(site, d) }, i18n.t("admin.revoke")));
    }
    body.append(
      el(
        "tr",
        { dataset: { deviceId: d.id, state: st } },
        el("td", { "data-label": i18n.t("admin.col_state") }, dot(st, i18n.t(d.revoked ? "admin.state_revoked" : `admin.state_${st}`))),
        el("td", { "data-label": i18n.t("admin.device") }, d.label, el("div", { class: "detail mono" }, d.id)),
        el("td", { "data-label": i18n.t("admin.col_heartbeat") }, when(d.last_heartbeat_at)),
        el("td", { "data-label": i18n.t("admin.device_status") }, status),
        actions,
      ),
    );
  }
}

async function enrol(event) {
  event.preventDefault();
  clearError();
  const siteId = state.devicesOf;
  try {
    const reply = await account.api("POST", `/api/sites/${siteId}/devices`, { label: $("device-label").value.trim() });
    state.secret = { site_id: siteId, credential: reply.credential, kiosk_url: reply.kiosk_url };
    $("device-label").value = "";
    await loadSites();
  } catch (err) {
    showError(err);
  }
}

async function revoke(site, device) {
  clearError();
  try {
    await account.api("DELETE", `/api/sites/${site.id}/devices/${device.id}`);
    notice(i18n.t("admin.device_revoked", { label: device.label }));
    await loadSites();
  } catch (err) {
    showError(err);
  }
}

// ------------------------------------------------------------------------------------ people
async function loadPeople() {
  const reply = await account.api("GET", "/api/accounts");
  state.accounts = reply.accounts;
  renderPeople();
}

function renderPeople() {
  const body = $("people-body");
  body.replaceChildren();
  for (const a of state.accounts) {
    const st = a.active ? "online" : "inactive";
    const actions = el(
      "td",
      { class: "actions" },
      el("button", { type: "button", class: "reset", onclick: () => resetPassword(a) }, i18n.t("admin.reset_password")),
      a.active
        ? el("button", { type: "button", class: "danger deactivate", onclick: () => setActive(a, false) }, i18n.t("admin.deactivate"))
        : el("button", { type: "button", class: "activate", onclick: () => setActive(a, true) }, i18n.t("admin.activate")),
    );
    body.append(
      el(
        "tr",
        { dataset: { accountId: a.id, active: String(a.active) } },
        el("td", { "data-label": i18n.t("admin.col_state") }, dot(st, i18n.t(a.active ? "admin.active" : "admin.inactive"))),
        el("td", { "data-label": i18n.t("admin.person_name") }, a.name),
        el("td", { "data-label": i18n.t("net.login.username"), class: "mono" }, a.username),
        el("td", { "data-label": i18n.t("admin.role") }, i18n.t(`net.role.${a.role}`)),
        actions,
      ),
    );
  }
}

async function createAccount(event) {
  event.preventDefault();
  clearError();
  const body = {
    username: $("account-username").value.trim(),
    name: $("account-name").value.trim(),
    role: $("account-role").value,
    password: $("account-password").value,
  };
  try {
    await account.api("POST", "/api/accounts", body);
    notice(i18n.t("admin.account_created", { name: body.name, username: body.username }));
    $("account-form").reset();
    await loadPeople();
  } catch (err) {
    showError(err);
  }
}

async function setActive(a, active) {
  clearError();
  try {
    await account.api("PATCH", `/api/accounts/${a.id}`, { active });
    await loadPeople();
  } catch (err) {
    showError(err);
  }
}

async function resetPassword(a) {
  const password = window.prompt(i18n.t("admin.reset_prompt", { name: a.name }));
  if (!password) return;
  clearError();
  try {
    await account.api("PATCH", `/api/accounts/${a.id}`, { password });
    notice(i18n.t("admin.password_reset", { name: a.name }));
  } catch (err) {
    showError(err);
  }
}

// ------------------------------------------------------------------------------------ frame
function showTab(name) {
  for (const tab of document.querySelectorAll('[role="tab"]')) tab.setAttribute("aria-selected", String(tab.dataset.tab === name));
  $("panel-sites").hidden = name !== "sites";
  $("panel-people").hidden = name !== "people";
}

async function refresh() {
  try {
    await loadSites();
  } catch (err) {
    showError(err);
  }
}

async function main() {
  await i18n.use("/static/i18n/{lang}.json");
  await i18n.use("/static/i18n/network.{lang}.json");
  await i18n.use("/static/i18n/admin.{lang}.json");
  i18n.apply();
  i18n.bindSwitch($("lang-switch"));
  const me = await account.requireAccount(["admin"]);
  if (me === undefined) return;
  const who = () => {
    $("who").textContent = me ? i18n.t("net.who", { name: me.name, role: i18n.t(`net.role.${me.role}`) }) : i18n.t("net.admin_key");
  };
  who();
  i18n.onChange(() => {
    who();
    renderSites();
    renderDevices();
    renderPeople();
  });
  $("logout").addEventListener("click", () => account.logout());
  for (const tab of document.querySelectorAll('[role="tab"]')) tab.addEventListener("click", () => showTab(tab.dataset.tab));
  $("site-new").addEventListener("click", () => openEditor(null));
  $("site-cancel").addEventListener("click", closeEditor);
  $("site-kind").addEventListener("change", kindChanged);
  $("site-form").addEventListener("submit", submitSite);
  $("show-retired").addEventListener("change", refresh);
  $("device-form").addEventListener("submit", enrol);
  $("devices-close").addEventListener("click", closeDevices);
  $("account-form").addEventListener("submit", createAccount);
  try {
    await loadPeople();
    await loadSites();
  } catch (err) {
    showError(err);
  }
  // The online dots follow the kiosks' heartbeats.
  setInterval(refresh, REFRESH_MS);
}

main();
