// /liaison — the liaison judge's desk (联系法官), and the command center's (诉源治理指挥中心) for
// a `command` account: my sites with their kiosks' state, disputes to guide, agreements whose
// judicial confirmation (司法确认) waits for my decision, the filing packages of failed
// mediations, the overdue ones (docs/PAGES.md). window.cc exposes the state for the tests.

import * as i18n from "./i18n.js";
import * as desk from "./desk.js";
import * as view from "./disputes_view.js";
import { el, fill } from "./dom.js";

const { listOf } = desk;
const t = i18n.t;
const $ = (id) => document.getElementById(id);

const TABS = {
  guide: { query: "?state=judge_mediation", hint: "liaison.hint_guide" },
  confirm: { query: null, hint: "liaison.hint_confirm" },
  filing: { query: null, hint: "liaison.hint_filing" },
  overdue: { query: "?overdue=1", hint: "liaison.hint_overdue" },
  all: { query: "", hint: "liaison.hint_all" },
};

const cc = (window.cc = {
  me: null,
  tab: "guide",
  sites: [],
  lists: {},
  confirmations: [],
  opened: null,
  ready: false,
});

const ctx = desk.context();

// ------------------------------------------------------------------ my sites
async function loadSites() {
  cc.sites = listOf(await desk.api("GET", "/api/sites"), "sites").filter((s) => !s.retired);
  desk.noteSites(ctx, cc.sites);
  renderSites();
}

function renderSites() {
  const counts = new Map();
  for (const d of cc.lists.all || []) {
    for (const id of new Set([d.intake_site_id, d.handler?.site_id])) if (id) counts.set(id, (counts.get(id) || 0) + 1);
  }
  $("sites").replaceChildren(
    ...cc.sites.map((s) => {
      const online = s.online === true ? "true" : s.online === false ? "false" : "unknown";
      return el(
        "li",
        { dataset: { site: s.id, online } },
        el("span", { class: "site-name", text: s.name }),
        el("span", { class: "tag", text: t(`site.kind.${s.kind}`) }),
        el("span", {
          class: "dot-state",
          dataset: { online },
          title: s.last_heartbeat_at ? t("site.last_seen", { at: view.fmtTime(s.last_heartbeat_at) }) : null,
          text: online === "true" ? t("site.online") : online === "false" ? t("site.offline") : t("site.online_unknown"),
        }),
        el("span", { class: "detail", text: t("liaison.site_counts", { n: counts.get(s.id) || 0 }) }),
      );
    }),
  );
  $("sites-empty").hidden = cc.sites.length > 0;
}

// ------------------------------------------------------------------ the lists
// Numbered like the openings: an older answer never overwrites a newer one.
let loading = 0;

async function loadLists() {
  const ticket = ++loading;
  const get = (q) => desk.api("GET", `/api/disputes${q}`).then((r) => listOf(r, "disputes"));
  const [all, guide, overdue, confirmations] = await Promise.all([get(""), get(TABS.guide.query), get(TABS.overdue.query), loadConfirmations()]);
  if (ticket !== loading) return;
  const pending = new Set(confirmations.filter((c) => c.state === "pending").map((c) => c.dispute_id));
  cc.confirmations = confirmations;
  cc.lists = {
    all,
    guide,
    overdue,
    filing: all.filter((d) => d.state === "failed" || d.state === "filed"),
    confirm: all.filter((d) => pending.has(d.id)),
  };
  renderSites();
  renderCounts();
  renderList();
}

// Applications for judicial confirmation (docs/SIGNING.md): "pending" ones wait for my
// decision; decided ones stay on their dispute.
async function loadConfirmations() {
  return listOf(await desk.api("GET", "/api/confirmations"), "confirmations");
}

function renderCounts() {
  for (const span of document.querySelectorAll(".tabs [data-count]")) {
    const n = (cc.lists[span.dataset.count] || []).length;
    span.textContent = n ? String(n) : "";
  }
}

function renderList() {
  const tab = TABS[cc.tab];
  $("list-title").textContent = t(`liaison.tab_${cc.tab}`);
  $("list-hint").textContent = t(tab.hint);
  const items = cc.lists[cc.tab] || [];
  $("disputes").replaceChildren(...items.map((d) => view.listItem(d, ctx, (x) => openDispute(x.id))));
  $("disputes-empty").hidden = items.length > 0;
  for (const b of document.querySelectorAll(".tabs [data-tab]")) b.setAttribute("aria-selected", String(b.dataset.tab === cc.tab));
  markOpened();
}

function markOpened() {
  view.markOpened($("disputes"), cc.opened ? cc.opened.dispute.id : null);
}

// ------------------------------------------------------------------ one dispute
// Each opening is numbered: a slow answer for a dispute opened before (a refresh re-reading
// the one that was open) never replaces the one opened since.
let opening = 0;

async function openDispute(id) {
  const ticket = ++opening;
  const { dispute: d, events, evidence, agreement } = await desk.readDispute(id);
  const confirmation = cc.confirmations.filter((c) => c.dispute_id === id).pop() || null;
  let ruling = null;
  if (confirmation && confirmation.decision_id) {
    ruling = await desk.api("GET", `/api/documents/${confirmation.decision_id}`).catch(() => null);
  }
  let hearing = null;
  // Only a dispute that reached the hearing rung has one (a confirmed agreement closes without).
  if (events.some((e) => e.to_state === "hearing_scheduled")) {
    hearing = await desk.api("GET", `/api/disputes/${id}/hearing`).then((r) => r.hearing).catch(() => null);
  }
  if (ticket !== opening) return;
  cc.opened = {
    dispute: d,
    events,
    evidence,
    agreement,
    confirmation,
    ruling,
    hearing,
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
  const { dispute, events, evidence, agreement, confirmation, ruling } = cc.opened;
  fill(
    box,
    view.detail(dispute, ctx, { events, evidence }),
    agreementPart(agreement),
    confirmation ? confirmationPart(confirmation, ruling) : null,
    filingPart(dispute),
    hearingPart(dispute, cc.opened.hearing),
    actions(dispute),
    el("div", { class: "actions" }, el("button", { type: "button", text: t("desk.close"), onclick: closeDispute })),
  );
  box.hidden = false;
  markOpened();
}

function closeDispute() {
  cc.opened = null;
  renderOpened();
}

// The agreement as signed: its text, the text's SHA-256, every signature (or refusal) with the
// hash of its chain entry, who attested it at the site, and the PDF.
function agreementPart(doc) {
  if (!doc) return null;
  const acts = (doc.entries || []).filter((e) => e.type === "signature" || e.type === "refusal");
  return el(
    "section",
    { class: "agreement", dataset: { document: doc.id, state: doc.state || "" } },
    el("h3", { text: `${t("agreement.title")} · ${t(`agreement.state.${doc.state}`)}` }),
    doc.text ? el("div", { class: "agreement-text", text: doc.text }) : null,
    el("p", { class: "hash" }, `${t("agreement.sha256")}: `, el("span", { class: "text-sha256", text: doc.text_sha256 || "" })),
    el("h3", { text: t("liaison.signatures") }),
    el(
      "ul",
      { class: "signatures hash-list" },
      ...acts.map((e) =>
        el(
          "li",
          { dataset: { type: e.type, signer: e.signer || "" } },
          el("div", {
            text:
              e.type === "refusal"
                ? t("liaison.refused", { signer: `${e.signer_name || e.signer}（${e.signer_role || ""}）`, at: view.fmtTime(e.at), reason: e.reason || "" })
                : t("liaison.signed", { signer: `${e.signer_name || e.signer}（${e.signer_role || ""}）`, at: view.fmtTime(e.at) }),
          }),
          e.attestation ? el("div", { class: "detail", text: t("liaison.attested", { officer: e.attestation.officer_name }) }) : null,
          el("div", { class: "hash" }, `${t("liaison.entry_hash")}: `, el("span", { class: "entry-hash", text: e.hash })),
        ),
      ),
    ),
    el(
      "div",
      { class: "actions" },
      el("button", { type: "button", class: "link", dataset: { pdf: "agreement" }, text: t("liaison.pdf"), onclick: () => desk.openPdf(doc.pdf_url || `/api/documents/${doc.id}/pdf`) }),
    ),
  );
}

// The application and, once decided, the ruling (民事裁定书): confirmed or refused with its
// ground and reason, the ruling's own chain entry hash, its PDF.
function confirmationPart(c, ruling) {
  const decided = c.state === "confirmed" || c.state === "refused";
  const entry = ruling ? (ruling.entries || []).filter((e) => e.type === "decision").pop() : null;
  return el(
    "section",
    { class: "decision", dataset: { state: c.state, confirmation: c.id } },
    el("h3", { text: t("liaison.decision") }),
    el("p", {}, el("strong", { class: "confirmation-state", text: t(`confirmation.state.${c.state}`) }), " ",
      el("span", { class: "detail", text: decided ? t("liaison.decided_at", { at: view.fmtTime(c.decided_at) }) : t("liaison.applied_at", { at: view.fmtTime(c.applied_at), deadline: view.fmtTime(c.deadline) }) })),
    c.ground ? el("p", { class: "detail", text: t(`confirmation.ground.${c.ground}`) }) : null,
    c.reason ? el("p", { class: "wrap", text: c.reason }) : null,
    ruling ? el("p", { class: "hash" }, `${t("liaison.ruling_hash")}: `, el("span", { class: "ruling-sha256", text: ruling.text_sha256 })) : null,
    entry ? el("p", { class: "hash" }, `${t("liaison.decision_hash")}: `, el("span", { class: "decision-hash", text: entry.hash })) : null,
    c.decision_pdf_url
      ? el("div", { class: "actions" }, el("button", { type: "button", class: "link", dataset: { pdf: "decision" }, text: t("liaison.decision_pdf"), onclick: () => desk.openPdf(c.decision_pdf_url) }))
      : null,
  );
}

// The filing package of a failed mediation (docs/FILING.md): what the court's own filing
// system takes in (the national platforms stay the system of record). Downloading changes
// nothing; filing online is its own act (failed → filed, the package's SHA-256 logged).
function filingPart(d) {
  if (d.state !== "failed" && d.state !== "filed") return null;
  const base = `/api/disputes/${d.id}/filing`;
  const name = d.number || d.id;
  const filed = (cc.opened?.events || []).filter((e) => e.to_state === "filed").pop();
  return el(
    "section",
    { class: "filing" },
    el("h3", { text: t("liaison.filing") }),
    filed && filed.detail && filed.detail.export_sha256
      ? el("p", { class: "hash" }, `${t("liaison.filed_sha256")}: `, el("span", { class: "export-sha256", text: filed.detail.export_sha256 }))
      : null,
    el(
      "div",
      { class: "actions" },
      el("button", { type: "button", dataset: { filing: "json" }, text: t("liaison.filing_json"), onclick: () => desk.download(base, `${name}.json`) }),
      el("button", { type: "button", dataset: { filing: "zip" }, text: t("liaison.filing_zip"), onclick: () => desk.download(`${base}?format=zip`, `${name}.zip`) }),
      d.state === "failed"
        ? el("button", { type: "button", class: "primary", dataset: { act: "file" }, text: t("liaison.file_online"), onclick: () => run(() => desk.api("POST", base), d.id) })
        : null,
    ),
  );
}

// The last rung: a filed dispute's court hearing (docs/MEDIATION.md), scheduled by its liaison
// judge — the case number the court's filing gave, the court, when, public or not; the
// dispute moves filed → hearing_scheduled and shows the hearing from then on.
function hearingPart(d, hearing) {
  if (hearing) {
    return el(
      "section",
      { class: "hearing", dataset: { hearing: hearing.id } },
      el("h3", { text: t("liaison.hearing") }),
      el("p", {}, el("strong", { class: "wrap", text: hearing.case_number }), " ", el("span", { class: "detail", text: `${hearing.court} · ${view.fmtTime(hearing.scheduled_at)}` })),
    );
  }
  const role = cc.me ? cc.me.role : "admin";
  if (d.state !== "filed" || !["judge", "command", "admin"].includes(role)) return null;
  const field = (id, labelKey, attrs) =>
    el("label", { class: "field" }, el("span", { text: t(labelKey) }), el("input", { id, type: "text", maxlength: "200", autocomplete: "off", ...attrs }));
  const site = ctx.sites.get(d.intake_site_id);
  const error = el("span", { class: "error", hidden: true });
  const form = el(
    "form",
    { class: "hearing-form", novalidate: true },
    el("h3", { text: t("liaison.schedule") }),
    field("hearing-case", "liaison.case_number", { placeholder: t("liaison.case_number_placeholder") }),
    field("hearing-court", "liaison.court", { value: site && site.county ? `${site.county}人民法院` : "" }),
    field("hearing-at", "liaison.scheduled_at", { type: "datetime-local" }),
    el("label", { class: "check" }, el("input", { id: "hearing-public", type: "checkbox" }), el("span", { text: t("liaison.public") })),
    el("div", { class: "actions" }, el("button", { type: "submit", class: "primary", dataset: { act: "schedule" }, text: t("liaison.schedule") }), error),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const caseNumber = form.querySelector("#hearing-case").value.trim();
    const court = form.querySelector("#hearing-court").value.trim();
    const at = form.querySelector("#hearing-at").value;
    if (!caseNumber || !court || !at) {
      error.textContent = t("liaison.schedule_required");
      error.hidden = false;
      return;
    }
    const hearingFields = { case_number: caseNumber, court, public: form.querySelector("#hearing-public").checked, scheduled_at: new Date(at).toISOString() };
    run(() => desk.api("POST", `/api/disputes/${d.id}/hearing`, { hearing: hearingFields }), d.id);
  });
  return form;
}

const GROUNDS = ["violates_law", "harms_others", "public_order", "not_voluntary", "unclear", "other"];

// The refusal's ground (民诉法解释 Art. 358) and reason; a confirmation's reason is its opinion.
function decisionForm(d, c, decision) {
  const id = `decision-${decision}`;
  const reason = el("input", { id, type: "text", maxlength: "500", autocomplete: "off", value: decision === "confirm" ? t("liaison.confirm_default") : "" });
  const ground = el("select", { "aria-label": t("liaison.ground") }, ...GROUNDS.map((g) => el("option", { value: g, text: t(`confirmation.ground.${g}`) })));
  const error = el("span", { class: "error", hidden: true });
  const form = el(
    "form",
    { class: "reason-form", dataset: { decision }, novalidate: true },
    el("label", { for: id, text: t(decision === "confirm" ? "liaison.confirm_note" : "liaison.refuse_reason") }),
    decision === "refuse" ? ground : null,
    reason,
    el("button", { type: "submit", class: decision === "confirm" ? "primary" : "danger", text: t(decision === "confirm" ? "liaison.confirm" : "liaison.refuse") }),
    error,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = reason.value.trim();
    if (!text) {
      error.textContent = t("desk.reason_required");
      error.hidden = false;
      return;
    }
    const bodyOf = { decision, reason: text };
    if (decision === "refuse") bodyOf.ground = ground.value;
    run(() => desk.api("POST", `/api/confirmations/${c.id}/decision`, bodyOf), d.id);
  });
  return form;
}

// Only what the API would allow (signaling/dispute_access.py): a judge of the dispute's sites
// (or the judge guiding it) may move it anywhere the machine allows; the command center acts
// on the disputes it handles (cross-village ones) as a site acts on its own.
function actions(d) {
  const me = cc.me;
  const role = me ? me.role : "admin";
  const isAdmin = role === "admin";
  const judgeOf =
    role === "judge" &&
    (d.judge_id === me.id || [d.intake_site_id, d.handler?.site_id].some((id) => id && ctx.sites.get(id)?.liaison_judge_id === me.id));
  const commandHandles = role === "command" && d.handler?.level === "command_center";
  const box = el("section", { class: "acts" });
  const row = el("div", { class: "actions" });
  const forms = el("div");
  box.append(row, forms);
  const act = (key, label, fn, cls) => row.append(el("button", { type: "button", class: cls, dataset: { act: key }, text: t(label), onclick: fn }));
  const ask = (labelKey, buttonKey, onReason, opts) => {
    forms.replaceChildren(view.reasonForm(labelKey, buttonKey, onReason, opts));
    forms.querySelector("input").focus();
  };
  const c = cc.opened?.confirmation;
  const deciding = role === "judge" && ctx.sites.get(c?.site_id)?.liaison_judge_id === me.id;
  if (c && c.state === "pending" && deciding) {
    act("confirm", "liaison.confirm", () => forms.replaceChildren(decisionForm(d, c, "confirm")), "primary");
    act("refuse", "liaison.refuse", () => forms.replaceChildren(decisionForm(d, c, "refuse")), "danger");
  }
  const mediating = d.state === "site_mediation" || d.state === "judge_mediation";
  const acting = isAdmin || judgeOf || commandHandles;
  if (mediating && acting && d.mediator_status !== "accepted") {
    act("appoint", "act.appoint", () => appointForm(d).then((form) => forms.replaceChildren(form)));
  }
  if (mediating && acting && d.mediator_status === "accepted") {
    act("session", d.state === "judge_mediation" ? "liaison.guide_session" : "act.session", () => startSession(d), "primary");
  }
  if (d.state === "site_mediation" && acting) {
    const key = role === "judge" ? "liaison.take_up" : "act.escalate";
    act("take-up", key, () => ask(role === "judge" ? "liaison.reason.take_up" : "act.reason.escalate", key, (reason) => transition(d, "judge_mediation", reason)));
  }
  if (mediating && acting) {
    act("mediated", "act.mediated", () => ask("act.reason.mediated", "act.mediated", (reason) => transition(d, "mediated", reason), { required: false }));
    act("failed", "act.failed", () => ask("act.reason.failed", "act.failed", (reason) => transition(d, "failed", reason), { danger: true }), "danger");
  }
  if (!row.children.length) return null;
  return box;
}

// The mediator to appoint: one of the mediating site's mediators (the API refuses others), or,
// for the command center's and a judge's mediation, any mediator of the network.
async function appointForm(d) {
  const site = d.handler?.level === "site" ? ctx.sites.get(d.handler.site_id) : null;
  let people = site ? site.mediators || [] : [];
  if (!site) {
    try {
      people = listOf(await desk.api("GET", "/api/accounts?role=mediator"), "accounts").filter((a) => a.active);
    } catch (err) {
      desk.showError(err);
    }
  }
  return view.appointForm(people, (id) => run(() => desk.api("POST", `/api/disputes/${d.id}/mediator`, { mediator_id: id }), d.id));
}

function transition(d, to, reason) {
  return run(() => desk.api("POST", `/api/disputes/${d.id}/transitions`, { to, reason }), d.id);
}

// A session of the dispute (docs/MEDIATION.md): the judge holds it and takes the judge's seat
// (call-judge gives the called-in judge their token); the command center opens the seat the
// reply gives it. Entered in a new tab.
async function startSession(d) {
  try {
    const created = await desk.api("POST", `/api/disputes/${d.id}/sessions`, {});
    let url = desk.joinUrlFor(created, cc.me);
    if (cc.me && cc.me.role === "judge") {
      const hearingId = created.session.hearing.id;
      const called = await desk.api("POST", `/api/disputes/${d.id}/sessions/${hearingId}/call-judge`, {});
      if (called.token) url = called.token.join_url;
    }
    if (url) window.open(url, "_blank", "noopener");
    desk.clearError();
  } catch (err) {
    desk.showError(err);
  }
}

async function run(fn, disputeId) {
  try {
    await fn();
    desk.clearError();
  } catch (err) {
    desk.showError(err);
    return;
  }
  await loadLists();
  await openDispute(disputeId);
}

// ------------------------------------------------------------------ frame
// While a refresh runs the body says so (data-refreshing), for a test to wait on.
async function refresh() {
  document.body.dataset.refreshing = "1";
  try {
    await loadSites();
    await loadLists();
    if (cc.opened) await openDispute(cc.opened.dispute.id);
    desk.clearError();
  } catch (err) {
    desk.showError(err);
  } finally {
    delete document.body.dataset.refreshing;
  }
}

function setTitle() {
  const key = cc.me && cc.me.role === "command" ? "liaison.title_command" : "liaison.title";
  $("page-title").dataset.i18n = key;
  document.title = t(key);
  $("page-title").textContent = t(key);
}

async function main() {
  const me = await desk.start({ tables: ["liaison", "disputes", "officer"], roles: ["judge", "command", "admin"] });
  if (me === undefined) return;
  cc.me = me;
  setTitle();
  for (const b of document.querySelectorAll(".tabs [data-tab]")) {
    b.addEventListener("click", () => {
      cc.tab = b.dataset.tab;
      renderList();
    });
  }
  $("refresh").addEventListener("click", refresh);
  i18n.onChange(() => {
    setTitle();
    renderSites();
    renderList();
    renderOpened();
  });
  await refresh();
  cc.ready = true;
  document.body.dataset.ready = "1";
  setInterval(() => loadSites().catch(() => {}), 20000);
}

main();
