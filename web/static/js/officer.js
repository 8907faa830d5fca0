// /officer — the site officer's desk (a mediator of the site uses it too): my site and its
// kiosk's state, intake on the parties' behalf with the evidence hashed here and by the server,
// my site's disputes with where the ladder sent each and why, their time limits, and the
// actions the API allows on each (docs/PAGES.md). window.cc exposes the state for the tests.

import * as i18n from "./i18n.js";
import * as desk from "./desk.js";
import * as view from "./disputes_view.js";
import { el, fill } from "./dom.js";

const { listOf } = desk;
const t = i18n.t;
const $ = (id) => document.getElementById(id);

const TYPES = ["neighbour", "family", "sale", "finance", "property", "traffic", "construction", "tourism", "labour", "other"];

const cc = (window.cc = {
  me: null,
  site: null,
  sites: [],
  disputes: [],
  opened: null,
  lastIntake: null,
  ready: false,
});

const ctx = desk.context();

// ------------------------------------------------------------------ my site
function mySites(sites, me) {
  if (!me) return sites;
  if (me.role === "officer") return sites.filter((s) => s.officer_id === me.id);
  if (me.role === "mediator") return sites.filter((s) => (s.mediator_ids || []).includes(me.id));
  return sites;
}

function renderSite() {
  const site = cc.site;
  $("site-none").hidden = Boolean(site);
  $("site-info").hidden = !site;
  const pick = $("site-pick");
  pick.hidden = cc.sites.length < 2;
  pick.replaceChildren(...cc.sites.map((s) => el("option", { value: s.id, text: s.name, selected: s === site })));
  if (!site) return;
  $("site-name").textContent = site.name;
  $("site-kind").textContent = t(`site.kind.${site.kind}`);
  const online = $("site-online");
  online.dataset.online = site.online === undefined || site.online === null ? "unknown" : String(Boolean(site.online));
  online.textContent =
    site.online === true ? t("site.online") : site.online === false ? t("site.offline") : t("site.online_unknown");
  online.title = site.last_heartbeat_at ? t("site.last_seen", { at: view.fmtTime(site.last_heartbeat_at) }) : "";
  $("site-place").textContent = [site.county, site.township, site.village, site.address].filter(Boolean).join(" ");
  renderDevices(site);
}

// The site's kiosks: only its officer (or an admin) enrols or revokes them (docs/NETWORK.md).
function mayManageKiosks(site) {
  return !cc.me || cc.me.role === "admin" || (cc.me.role === "officer" && site.officer_id === cc.me.id);
}

function renderDevices(site) {
  const box = $("kiosks");
  box.hidden = !mayManageKiosks(site);
  if (box.hidden) return;
  const live = (site.devices || []).filter((d) => !d.revoked);
  $("devices").replaceChildren(
    ...live.map((d) =>
      el(
        "li",
        { dataset: { device: d.id } },
        el("span", { class: "dot-state", dataset: { online: String(Boolean(d.online)) }, text: `${d.label} · ${t(d.online ? "site.online" : "site.offline")}` }),
        d.last_heartbeat_at ? el("span", { class: "detail", text: t("site.last_seen", { at: view.fmtTime(d.last_heartbeat_at) }) }) : null,
        el("button", { type: "button", class: "link", dataset: { act: "revoke" }, text: t("officer.revoke"), onclick: () => revokeDevice(site, d) }),
      ),
    ),
  );
}

async function enrolDevice(event) {
  event.preventDefault();
  const site = cc.site;
  const label = $("enrol-label").value.trim() || t("officer.enrol_placeholder");
  try {
    const reply = await desk.api("POST", `/api/sites/${site.id}/devices`, { label });
    // The credential is shown this once, inside the kiosk link the site's machine opens.
    $("enrolled-link").href = reply.kiosk_url;
    $("enrolled").hidden = false;
    $("enrol-label").value = "";
    desk.clearError();
    await loadSites();
  } catch (err) {
    desk.showError(err);
  }
}

async function revokeDevice(site, device) {
  try {
    await desk.api("DELETE", `/api/sites/${site.id}/devices/${device.id}`);
    desk.clearError();
    await loadSites();
  } catch (err) {
    desk.showError(err);
  }
}

async function loadSites() {
  const reply = await desk.api("GET", "/api/sites");
  const all = Array.isArray(reply) ? reply : reply.sites || [];
  desk.noteSites(ctx, all);
  cc.sites = mySites(all, cc.me).filter((s) => !s.retired);
  const keep = cc.site && cc.sites.find((s) => s.id === cc.site.id);
  cc.site = keep || cc.sites[0] || null;
  renderSite();
  if (cc.site) await desk.loadPeople(ctx.people, [cc.site.officer_id, cc.site.liaison_judge_id, ...(cc.site.mediator_ids || [])]);
}

// ------------------------------------------------------------------ my site's disputes
// Numbered like the openings: an older answer (another site's, a slower refresh) never
// overwrites a newer one.
let loading = 0;

async function loadDisputes() {
  const ticket = ++loading;
  let found = [];
  if (cc.site) {
    const reply = await desk.api("GET", `/api/disputes?site_id=${encodeURIComponent(cc.site.id)}`);
    found = listOf(reply, "disputes");
  }
  if (ticket !== loading) return;
  cc.disputes = found;
  renderList();
}

function renderList() {
  const list = $("disputes");
  list.replaceChildren(...cc.disputes.map((d) => view.listItem(d, ctx, (x) => openDispute(x.id))));
  $("disputes-empty").hidden = cc.disputes.length > 0;
  markOpened();
}

function markOpened() {
  view.markOpened($("disputes"), cc.opened ? cc.opened.dispute.id : null);
}

// Each opening is numbered: a slow answer for a dispute opened before (a refresh re-reading
// the one that was open) never replaces the one opened since.
let opening = 0;

async function openDispute(id) {
  const ticket = ++opening;
  const read = await desk.readDispute(id, {
    confirmations: `/api/confirmations?dispute_id=${encodeURIComponent(id)}`,
    sessions: `/api/disputes/${id}/sessions`,
  });
  const d = read.dispute;
  if (ticket !== opening) return;
  cc.opened = {
    dispute: d,
    events: read.events,
    evidence: read.evidence,
    agreement: read.agreement,
    confirmation: read.confirmations.pop() || null,
    sessions: read.sessions,
  };
  await desk.loadPeople(ctx.people, [d.mediator_id, d.judge_id]);
  if (ticket !== opening) return;
  renderOpened();
}

function renderOpened() {
  const box = $("dispute-detail");
  if (!cc.opened) {
    box.hidden = true;
    return;
  }
  const { dispute, events, evidence } = cc.opened;
  fill(
    box,
    view.detail(dispute, ctx, { events, evidence }),
    sessionsPart(dispute, cc.opened.sessions),
    agreementPart(dispute, cc.opened.agreement),
    actions(dispute),
    el("div", { class: "actions" }, el("button", { type: "button", text: t("desk.close"), onclick: closeDispute })),
  );
  box.hidden = false;
  markOpened();
}

// The dispute's mediation sessions (hearings of kind mediation, docs/MEDIATION.md): when, in
// what state, who has a seat; whoever holds a seat (the mediator, a judge called in) enters
// with a token minted for their own seat.
function sessionsPart(d, sessions) {
  if (!sessions.length) return null;
  const me = cc.me;
  const list = el("ul", { class: "sessions hash-list" });
  for (const s of sessions) {
    const h = s.hearing;
    const mine = me && s.seats.some((seat) => seat.account_id === me.id);
    list.append(
      el(
        "li",
        { dataset: { hearing: h.id, state: h.state } },
        el("div", {}, el("strong", { text: view.fmtTime(h.scheduled_at) }), " ", el("span", { class: "tag", text: t(`act.session_state.${h.state}`) })),
        el("div", { class: "detail", text: s.seats.map((seat) => seat.name).join("、") }),
        mine && h.state !== "ended"
          ? el("button", { type: "button", class: "primary", dataset: { act: "enter" }, text: t("act.session_open"), onclick: () => enterSession(d, h.id) })
          : null,
      ),
    );
  }
  return el("section", {}, el("h3", { text: t("act.sessions") }), list);
}

// The agreement where it stands (docs/SIGNING.md): each signer and whether they signed; a
// party who is not at the site gets a signing link of their own (shown once, valid 3 days),
// which the officer passes on; a party at the site signs on /sign on this machine.
function agreementPart(d, doc) {
  if (!doc) return null;
  const confirmation = cc.opened?.confirmation || null;
  const open = doc.state === "open";
  const list = el(
    "ul",
    { class: "signers hash-list" },
    ...(doc.signers || []).map((signer) =>
      el(
        "li",
        { dataset: { signer: signer.key, status: signer.status } },
        el("span", { text: `${signer.name}（${signer.role}）` }),
        " ",
        el("span", { class: "tag", text: t(`act.signer.${signer.status}`) }),
        open && signer.kind === "party" && signer.status === "pending"
          ? el("button", { type: "button", class: "link", dataset: { act: "link" }, text: t("act.signing_link"), onclick: (e) => mintLink(doc, signer, e.target) })
          : null,
      ),
    ),
  );
  return el(
    "section",
    { class: "agreement", dataset: { document: doc.id, state: doc.state } },
    el("h3", { text: `${t("agreement.title")} · ${t(`agreement.state.${doc.state}`)}` }),
    el("p", { class: "hash" }, `${t("agreement.sha256")}: `, el("span", { class: "text-sha256", text: doc.text_sha256 })),
    list,
    confirmation
      ? el("p", { class: "confirmation", dataset: { state: confirmation.state } }, t("officer.confirmation", { state: t(`confirmation.state.${confirmation.state}`) }),
          confirmation.ground ? ` · ${t(`confirmation.ground.${confirmation.ground}`)}` : "")
      : null,
  );
}

async function mintLink(doc, signer, button) {
  try {
    const reply = await desk.api("POST", `/api/documents/${doc.id}/links`, { party_id: signer.ref });
    const shown = el("div", { class: "notice-box" }, el("span", { text: t("act.signing_link_shown", { until: view.fmtTime(reply.expires_at) }) }), " ", el("a", { href: reply.url, target: "_blank", rel: "noopener", class: "wrap link-url", text: reply.url }));
    button.replaceWith(shown);
    desk.clearError();
  } catch (err) {
    desk.showError(err);
  }
}

async function enterSession(d, hearingId) {
  try {
    const minted = await desk.api("POST", `/api/disputes/${d.id}/sessions/${hearingId}/token`, {});
    window.open(minted.join_url, "_blank", "noopener");
  } catch (err) {
    desk.showError(err);
  }
}

function closeDispute() {
  cc.opened = null;
  renderOpened();
  markOpened();
}

// ------------------------------------------------------------------ actions
// Only what the API would allow the caller on this dispute now (signaling/dispute_access.py,
// dispute_sessions.py, signing_api.py); the server decides again.
function actions(d) {
  const me = cc.me;
  const role = me ? me.role : "admin";
  const isAdmin = role === "admin";
  const site = (id) => (id ? ctx.sites.get(id) : null);
  const officerOf = (id) => role === "officer" && site(id)?.officer_id === me.id;
  const mediatorOfSite = (id) => role === "mediator" && (site(id)?.mediator_ids || []).includes(me.id);
  const mediating = d.state === "site_mediation" || d.state === "judge_mediation";
  // The site that mediates it now (a cross-village dispute is the command center's: the desk
  // that took it in watches it but does not act for it).
  const handlerSite = d.handler?.level === "site" ? d.handler.site_id : null;
  const handles = isAdmin || (handlerSite && (officerOf(handlerSite) || mediatorOfSite(handlerSite)));
  const appointed = role === "mediator" && d.mediator_id === me.id;
  const accepted = appointed && d.mediator_status === "accepted";
  const intakeOfficer = isAdmin || officerOf(d.intake_site_id);
  const agreement = cc.opened?.agreement || null;
  const box = el("section", { class: "acts" }, el("h3", { text: t("act.title") }));
  const row = el("div", { class: "actions" });
  const forms = el("div");
  box.append(row, forms);

  const act = (key, fn, cls) =>
    row.append(el("button", { type: "button", class: cls, dataset: { act: key }, text: t(`act.${key}`), onclick: fn }));
  const ask = (key, labelKey, onReason, opts) => {
    forms.replaceChildren(view.reasonForm(labelKey, `act.${key}`, onReason, opts));
    forms.querySelector("input").focus();
  };

  // SPC 2021 Arts. 10–15: the handler appoints a mediator; the mediator accepts or declines.
  if (mediating && handles && role !== "mediator" && d.mediator_status !== "accepted") {
    act("appoint", () => forms.replaceChildren(appointForm(d)));
  }
  if (mediating && (appointed || isAdmin) && d.mediator_status === "appointed") {
    act("accept", () => run(() => desk.api("POST", `/api/disputes/${d.id}/mediator/accept`, {}), d.id));
    act("decline", () =>
      ask("decline", "act.reason.decline", (reason) =>
        run(() => desk.api("POST", `/api/disputes/${d.id}/mediator/decline`, { reason }), d.id),
      ),
    );
  }
  const sessionRunner = isAdmin || appointed || intakeOfficer || officerOf(handlerSite);
  if (mediating && d.mediator_status === "accepted" && sessionRunner) {
    act("session", () => startSession(d), "primary");
  }
  const moves = (d.state === "site_mediation" && (handles || accepted)) || (d.state === "judge_mediation" && (accepted || isAdmin));
  if (moves) {
    if (d.state === "site_mediation") {
      act("escalate", () => ask("escalate", "act.reason.escalate", (reason) => transition(d, "judge_mediation", reason)));
    }
    act("mediated", () => ask("mediated", "act.reason.mediated", (reason) => transition(d, "mediated", reason), { required: false }));
    act("failed", () => ask("failed", "act.reason.failed", (reason) => transition(d, "failed", reason), { danger: true }), "danger");
  }
  // The agreement (docs/SIGNING.md): the mediator drafts it from the template with the terms,
  // everyone signs it on /sign; once effective the officer applies for judicial confirmation
  // on the parties' behalf (民事诉讼法 Art. 205: within 30 days).
  if (mediating && (accepted || isAdmin) && d.mediator_status === "accepted" && (!agreement || agreement.state !== "effective")) {
    act("agreement_new", () => forms.replaceChildren(agreementForm(d)));
  }
  if (agreement) {
    act("agreement", () => window.open(`/sign?document=${encodeURIComponent(agreement.id)}`, "_blank", "noopener"));
  }
  if (agreement && agreement.state === "effective" && intakeOfficer && !cc.opened?.confirmation) {
    act("apply_confirmation", () => run(() => desk.api("POST", `/api/agreements/${agreement.id}/confirmation`, { attest: true }), d.id));
  }
  // SPC 2021 Art. 21: a failed mediation is filed online; the intake officer may file it on
  // the party's behalf (the package itself is the court's side's to read, docs/FILING.md).
  if (d.state === "failed" && intakeOfficer) {
    act("file", () => run(() => desk.api("POST", `/api/disputes/${d.id}/filing`), d.id));
  }
  if (!row.children.length) box.hidden = true;
  return box;
}

function agreementForm(d) {
  const id = "agreement-terms";
  const terms = el("textarea", { id, rows: "4", maxlength: "6000" });
  const error = el("span", { class: "error", hidden: true });
  const form = el(
    "form",
    { class: "reason-form", novalidate: true },
    el("label", { for: id, text: t("act.agreement_terms") }),
    terms,
    el("button", { type: "submit", class: "primary", text: t("act.agreement_new") }),
    error,
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const lines = terms.value.split("\n").map((x) => x.trim()).filter(Boolean);
    if (!lines.length) {
      error.textContent = t("desk.reason_required");
      error.hidden = false;
      return;
    }
    try {
      const doc = await desk.api("POST", `/api/disputes/${d.id}/agreements`, { terms: lines });
      window.open(`/sign?document=${encodeURIComponent(doc.id)}`, "_blank", "noopener");
    } catch (err) {
      desk.showError(err);
      return;
    }
    await openDispute(d.id);
  });
  return form;
}

function appointForm(d) {
  // The mediators of the site that mediates it (the API refuses any other).
  const handler = (d.handler?.site_id && ctx.sites.get(d.handler.site_id)) || cc.site;
  const ids = (handler && handler.mediator_ids) || [];
  const people = ids.map((id) => ({ id, name: ctx.people.get(id)?.name || id }));
  return view.appointForm(people, (id) => run(() => desk.api("POST", `/api/disputes/${d.id}/mediator`, { mediator_id: id }), d.id));
}

function transition(d, to, reason) {
  return run(() => desk.api("POST", `/api/disputes/${d.id}/transitions`, { to, reason }), d.id);
}

async function run(fn, disputeId) {
  try {
    await fn();
    desk.clearError();
  } catch (err) {
    desk.showError(err);
    return;
  }
  await Promise.all([loadDisputes(), openDispute(disputeId)]);
}

// A mediation session is a hearing of kind mediation (docs/MEDIATION.md): the reply carries the
// tokens; the mediator's (or, for the officer, the site's) join link opens in a new tab.
async function startSession(d) {
  let reply;
  try {
    // The parties sit at the site's machine: the kiosk gets a seat of its own.
    reply = await desk.api("POST", `/api/disputes/${d.id}/sessions`, { kiosk: true });
  } catch (err) {
    desk.showError(err);
    return;
  }
  const url = desk.joinUrlFor(reply, cc.me);
  if (url) window.open(url, "_blank", "noopener");
  await openDispute(d.id);
}

// ------------------------------------------------------------------ intake
function addParty(side) {
  const node = $("party-template").content.firstElementChild.cloneNode(true);
  i18n.apply(node);
  if (side) node.querySelector('[name="side"]').value = side;
  if (cc.site) {
    node.querySelector('[name="township"]').value = cc.site.township || "";
    node.querySelector('[name="village"]').value = cc.site.village || "";
  }
  node.querySelector(".remove-party").addEventListener("click", () => {
    node.remove();
    numberParties();
  });
  $("parties").append(node);
  numberParties();
}

function numberParties() {
  const all = $("parties").querySelectorAll(".party");
  all.forEach((p, i) => {
    p.querySelector(".party-no").textContent = t("officer.party_no", { n: i + 1 });
    p.querySelector(".remove-party").hidden = all.length <= 2;
  });
}

function fieldError(fs, message, input) {
  const p = fs.querySelector(".field-error");
  p.textContent = message;
  p.hidden = !message;
  if (input) input.setAttribute("aria-invalid", "true");
}

// The same checks as the server's (signaling/schemas_disputes.py), so a typo shows at once.
function readParties() {
  const out = [];
  let ok = true;
  for (const fs of $("parties").querySelectorAll(".party")) {
    for (const i of fs.querySelectorAll("input")) i.removeAttribute("aria-invalid");
    fieldError(fs, "");
    const v = (name) => fs.querySelector(`[name="${name}"]`);
    const party = {
      side: v("side").value,
      name: v("name").value.trim(),
      id_number: v("id_number").value.trim().toUpperCase(),
      phone: v("phone").value.replace(/\s/g, ""),
      address: v("address").value.trim(),
      village: v("village").value.trim(),
      township: v("township").value.trim(),
      consents: { online_mediation: v("online_mediation").checked, electronic_service: v("electronic_service").checked },
    };
    for (const name of ["name", "id_number", "phone", "address", "township", "village"]) {
      if (!party[name]) {
        fieldError(fs, t("officer.err.required", { field: t(`party.${name}`) }), v(name));
        ok = false;
        break;
      }
    }
    if (ok && !view.validIdNumber(party.id_number)) {
      fieldError(fs, t("officer.err.id_number"), v("id_number"));
      ok = false;
    }
    if (ok && !view.validPhone(party.phone)) {
      fieldError(fs, t("officer.err.phone"), v("phone"));
      ok = false;
    }
    out.push(party);
  }
  return ok ? out : null;
}

function intakeError(message) {
  $("intake-error").textContent = message || "";
  $("intake-error").hidden = !message;
}

// Each chosen file is hashed here as soon as it is chosen; the server's hash is set beside it
// after the upload, and the two must agree.
const localHashes = new Map(); // File → Promise<hex>

function hashRow(file) {
  return el(
    "li",
    { dataset: { file: file.name, match: "pending" } },
    el("strong", { class: "wrap", text: file.name }),
    " ",
    el("span", { class: "detail", text: view.fmtSize(file.size) }),
    el("div", { class: "hash" }, `${t("officer.local_hash")}: `, el("span", { class: "local", text: t("officer.hashing") })),
    el("div", { class: "hash" }, `${t("officer.server_hash")}: `, el("span", { class: "server", text: "—" })),
    el("div", { class: "verdict" }),
  );
}

function onFiles() {
  const list = $("intake-hashes");
  list.replaceChildren();
  localHashes.clear();
  for (const file of $("intake-files").files) {
    const row = hashRow(file);
    list.append(row);
    const p = file.arrayBuffer().then((buf) => view.sha256Hex(buf));
    localHashes.set(file, p);
    p.then((h) => (row.querySelector(".local").textContent = h));
  }
}

function showServerHash(row, local, stored) {
  row.querySelector(".server").textContent = stored;
  const match = local === stored;
  row.dataset.match = String(match);
  row.querySelector(".verdict").textContent = t(match ? "officer.hash_match" : "officer.hash_mismatch");
}

async function submitIntake(event) {
  event.preventDefault();
  intakeError("");
  if (!cc.site) return intakeError(t("officer.no_site"));
  const type = $("intake-type").value;
  const summary = $("intake-summary").value.trim();
  if (!type) return intakeError(t("officer.err.type"));
  if (!summary) return intakeError(t("officer.err.summary"));
  const parties = readParties();
  if (!parties) return;
  if (parties.length < 2) return intakeError(t("officer.err.min_parties"));
  const sides = new Set(parties.map((p) => p.side));
  if (!sides.has("applicant") || !sides.has("respondent")) return intakeError(t("officer.err.sides"));
  const body = { intake_site_id: cc.site.id, type, summary, parties };
  const received = $("intake-received").value;
  if (received) {
    const at = new Date(received);
    if (at.getTime() > Date.now()) return intakeError(t("officer.err.future"));
    body.received_at = at.toISOString();
  }
  const submit = $("intake-submit");
  submit.disabled = true;
  submit.textContent = t("officer.submitting");
  try {
    const created = await desk.api("POST", "/api/disputes", body);
    const dispute = created.dispute || created;
    const stored = await uploadEvidence(dispute.id);
    // The hashes go with the result: the form is cleared for the next intake.
    cc.lastIntake = { dispute, evidence: stored, rows: [...$("intake-hashes").children] };
    renderIntakeResult(dispute);
    resetIntake();
    $("intake-result").scrollIntoView({ block: "start" });
    await loadDisputes();
  } catch (err) {
    intakeError(desk.errorText(err));
  } finally {
    submit.disabled = false;
    submit.textContent = t("officer.submit");
  }
}

async function uploadEvidence(disputeId) {
  const files = [...$("intake-files").files];
  if (!files.length) return [];
  const form = new FormData();
  for (const f of files) form.append("file", f, f.name);
  const reply = await desk.upload(`/api/disputes/${disputeId}/evidence`, form);
  const stored = listOf(reply, "evidence");
  const rows = [...$("intake-hashes").children];
  for (const [i, file] of files.entries()) {
    const item = stored.find((e) => e.filename === file.name) || stored[i];
    if (!item) continue;
    const local = await localHashes.get(file);
    showServerHash(rows[i], local, item.sha256);
  }
  return stored;
}

function renderIntakeResult(dispute) {
  const box = $("intake-result");
  fill(
    box,
    el("h2", { text: t("officer.result_title", { number: dispute.number || dispute.id }) }),
    el(
      "p",
      { class: "result-route", dataset: { level: dispute.handler?.level || "" } },
      t("officer.result_route", { where: view.whereText(dispute, ctx) }),
      " ",
      view.stateBadge(dispute.state),
    ),
    cc.lastIntake.rows.length ? el("ul", { id: "result-hashes", class: "hash-list" }, ...cc.lastIntake.rows) : null,
    el("div", { class: "actions" }, el("button", { type: "button", dataset: { act: "open" }, text: t("officer.result_open"), onclick: () => openDispute(dispute.id).then(() => showTab("list")) })),
  );
  box.hidden = false;
}

// The hashes of the last intake stay shown (with the result) until another file is chosen.
function resetIntake() {
  $("intake-summary").value = "";
  $("intake-received").value = "";
  $("parties").replaceChildren();
  addParty("applicant");
  addParty("respondent");
  const files = $("intake-files");
  files.value = "";
  $("intake-hashes").replaceChildren();
  localHashes.clear();
}

function fillTypes() {
  const select = $("intake-type");
  const current = select.value;
  select.replaceChildren(
    el("option", { value: "", text: "—" }),
    ...TYPES.map((type) => el("option", { value: type, text: view.typeLabel(type), selected: type === current })),
  );
}

// ------------------------------------------------------------------ tabs
function showTab(name) {
  for (const b of document.querySelectorAll(".tabs [data-tab]")) b.setAttribute("aria-selected", String(b.dataset.tab === name));
  for (const p of document.querySelectorAll(".pane")) p.hidden = p.dataset.pane !== name;
}

function rerender() {
  fillTypes();
  renderSite();
  renderList();
  renderOpened();
  numberParties();
  if (cc.lastIntake) renderIntakeResult(cc.lastIntake.dispute);
}

async function main() {
  const me = await desk.start({ tables: ["officer", "disputes"], roles: ["officer", "mediator", "admin"] });
  if (me === undefined) return; // sent to /login
  cc.me = me;
  for (const b of document.querySelectorAll(".tabs [data-tab]")) b.addEventListener("click", () => showTab(b.dataset.tab));
  $("add-party").addEventListener("click", () => addParty("respondent"));
  $("intake").addEventListener("submit", submitIntake);
  $("intake-files").addEventListener("change", onFiles);
  $("enrol").addEventListener("submit", enrolDevice);
  $("refresh").addEventListener("click", () => refresh());
  $("site-pick").addEventListener("change", async () => {
    cc.site = cc.sites.find((s) => s.id === $("site-pick").value) || null;
    cc.opened = null;
    renderSite();
    renderOpened();
    await loadDisputes();
  });
  i18n.onChange(rerender);
  fillTypes();
  await refresh();
  addParty("applicant");
  addParty("respondent");
  cc.ready = true;
  document.body.dataset.ready = "1";
  // The kiosk's heartbeat moves the site's online state; the desk follows it without a click.
  setInterval(() => loadSites().catch(() => {}), 20000);
}

// While a refresh runs the body says so (data-refreshing), for a test to wait on.
async function refresh() {
  document.body.dataset.refreshing = "1";
  try {
    await loadSites();
    await loadDisputes();
    if (cc.opened) await openDispute(cc.opened.dispute.id);
    desk.clearError();
  } catch (err) {
    desk.showError(err);
  } finally {
    delete document.body.dataset.refreshing;
  }
}

main();
