// What the officer's and the liaison judge's desks share: the signed-in account (H1's
// js/account.js keeps the session and sends the Authorization header), the page's frame (the
// translation tables, the language switch, logging out, the error banner), downloads of
// files the API serves only to a signed-in caller, the shapes of the API's lists, and the names
// of the sites and people a dispute names.

import * as i18n from "./i18n.js";
import * as account from "./account.js";

const $ = (id) => document.getElementById(id);

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// The JSON API: the parsed reply, or an ApiError with the server's sentence ({"error": …}).
export async function api(method, path, body) {
  return account.api(method, path, body);
}

function authHeaders() {
  const token = account.sessionToken();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

async function raw(method, path, body) {
  let res;
  try {
    res = await fetch(path, { method, headers: authHeaders(), body, cache: "no-store" });
  } catch (_) {
    throw new ApiError(0, i18n.t("desk.network_error"));
  }
  if (res.status === 401) account.toLogin();
  if (!res.ok) {
    let message = `HTTP ${res.status}`;
    try {
      message = (await res.json()).error || message;
    } catch (_) {
      // Not JSON: the status says enough.
    }
    throw new ApiError(res.status, message);
  }
  return res;
}

// multipart/form-data (evidence files): the browser writes the boundary itself.
export async function upload(path, form) {
  const res = await raw("POST", path, form);
  return res.json();
}

// A file the API serves only with the session's header (evidence, PDFs, the filing export):
// fetched, then handed to the browser as a download of a blob: URL.
export async function download(path, filename) {
  try {
    const res = await raw("GET", path);
    const url = URL.createObjectURL(await res.blob());
    const a = document.createElement("a");
    a.href = url;
    a.download = filename || "";
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
    clearError();
  } catch (err) {
    showError(err);
  }
}

// A PDF opens in a new tab (the browser's own viewer), from a blob: URL for the same reason.
export async function openPdf(path) {
  const tab = window.open("", "_blank");
  try {
    const res = await raw("GET", path);
    const url = URL.createObjectURL(await res.blob());
    if (tab) tab.location.href = url;
    else window.location.href = url;
    clearError();
  } catch (err) {
    if (tab) tab.close();
    showError(err);
  }
}

export function errorText(err) {
  if (err instanceof ApiError || (err && err.status !== undefined)) return err.message;
  return (err && err.message) || String(err);
}

export function showError(err) {
  const banner = $("desk-error");
  banner.textContent = i18n.t("desk.error", { error: errorText(err) });
  banner.hidden = false;
}

export function clearError() {
  $("desk-error").hidden = true;
}

// A list the API gives either bare or under its name ({"disputes": […]}); nothing for no reply.
export function listOf(reply, key) {
  if (Array.isArray(reply)) return reply;
  return (reply && reply[key]) || [];
}

// What the dispute view (js/disputes_view.js) reads names from, filled by noteSites and
// loadPeople; downloads go through the session's header.
export function context() {
  return { sites: new Map(), people: new Map(), download: (path, name) => download(path, name) };
}

// The sites a desk shows, by id, and the people each names (liaison judge, officer,
// mediators): no account lookups needed for them.
export function noteSites(ctx, sites) {
  for (const s of sites) {
    ctx.sites.set(s.id, s);
    for (const person of [s.liaison_judge, s.officer, ...(s.mediators || [])]) if (person) ctx.people.set(person.id, person);
  }
}

// Names of the accounts a page shows (mediators, judges, officers). An officer may not list
// every account; what cannot be read shows as its id.
export async function loadPeople(people, ids) {
  const wanted = [...new Set(ids.filter((id) => id && !people.has(id)))];
  if (!wanted.length) return;
  await Promise.all(
    wanted.map(async (id) => {
      try {
        const reply = await api("GET", `/api/accounts/${encodeURIComponent(id)}`);
        const person = reply.account || reply;
        if (person && person.name) people.set(id, person);
      } catch (_) {
        // Not ours to read (403) or gone: the id stands in for the name.
      }
    }),
  );
}

// The join link of a new mediation session that is the caller's to open (docs/MEDIATION.md):
// a mediator their own seat; the site officer the site's kiosk seat (the parties sit at the
// site's machine beside them); the admin key whatever seat comes first.
export function joinUrlFor(reply, me) {
  const tokens = reply.tokens || [];
  const seat = (name) => tokens.find((x) => x.seat === name);
  const mine =
    (me && me.role === "mediator" && seat("mediator")) ||
    (me && me.role === "officer" && (seat("kiosk") || seat("mediator"))) ||
    seat("mediator") ||
    seat("kiosk") ||
    tokens[0];
  return mine ? mine.join_url : null;
}

// The dispute's agreement that counts (docs/SIGNING.md): the effective one, else the newest.
export async function agreementOf(disputeId) {
  return currentAgreement(listOf(await api("GET", `/api/disputes/${disputeId}/agreements`), "agreements"));
}

// One dispute as both desks open it, read at once: the dispute, its events and evidence (a
// list the caller may not read comes back empty), the agreement that counts; and the page's own
// lists, `more` = {name: path} → {name: [...]} (the list under `name` in the reply).
export async function readDispute(id, more = {}) {
  const names = Object.keys(more);
  const [dispute, events, evidence, agreements, ...extra] = await Promise.all([
    api("GET", `/api/disputes/${id}`),
    api("GET", `/api/disputes/${id}/events`).catch(() => []),
    api("GET", `/api/disputes/${id}/evidence`).catch(() => []),
    api("GET", `/api/disputes/${id}/agreements`).catch(() => []),
    ...names.map((name) => api("GET", more[name]).catch(() => [])),
  ]);
  const read = {
    dispute: dispute.dispute || dispute,
    events: listOf(events, "events"),
    evidence: listOf(evidence, "evidence"),
    agreement: currentAgreement(listOf(agreements, "agreements")),
  };
  names.forEach((name, i) => (read[name] = listOf(extra[i], name)));
  return read;
}

// Of a dispute's agreements (oldest first, as the API lists them), the one that counts.
export function currentAgreement(list) {
  return list.find((a) => a.state === "effective") || list[list.length - 1] || null;
}

// The frame of a desk page: the tables, the switch, who is signed in, logging out. Resolves
// with the account (null for the admin key), or undefined when the page goes to /login.
export async function start({ tables, roles }) {
  await i18n.use("/static/i18n/{lang}.json");
  for (const name of tables) await i18n.use(`/static/i18n/${name}.{lang}.json`);
  i18n.apply();
  i18n.bindSwitch($("lang-switch"));
  const me = await account.requireAccount(roles);
  if (me === undefined) return undefined;
  const who = () => {
    $("who").textContent = me ? i18n.t("desk.who", { name: me.name, role: i18n.t(`role.${me.role}`) }) : "";
  };
  who();
  i18n.onChange(who);
  $("logout").addEventListener("click", () => account.logout());
  return me;
}
