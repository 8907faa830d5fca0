// /liaison — the liaison judge's desk (联系法官), and the command center's (诉源治理指挥中心) for
// a `command` account: my sites with their kiosks' state, disputes to guide, agreements whose
// judicial confirmation (司法确认) waits for my decision, the filing packages of failed
// mediations, the overdue ones (docs/PAGES.md). window.cc exposes the state for the tests.

import * as i18n from "./i18n.js";
import * as desk from "./desk.js";
import * as view from "./disputes_view.js";

const { el } = view;
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

const ctx = { sites: new Map(), people: new Map(), download: (path, name) => desk.download(path, name) };

function listOf(reply, key) {
  if (Array.isArray(reply)) return reply;
  return (reply && reply[key]) || [];
}

// ------------------------------------------------------------------ my sites
async function loadSites() {
  cc.sites = listOf(await desk.api("GET", "/api/sites"), "sites").filter((s) => !s.retired);
  for (const s of cc.sites) ctx.sites.set(s.id, s);
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
async function loadLists() {
  const get = (q) => desk.api("GET", `/api/disputes${q}`).then((r) => listOf(r, "disputes"));
  const [all, guide, overdue] = await Promise.all([get(""), get(TABS.guide.query), get(TABS.overdue.query)]);
  cc.lists = {
    all,
    guide,
    overdue,
    filing: all.filter((d) => d.state === "failed" || d.state === "filed"),
  };
  cc.confirmations = await loadConfirmations();
  cc.lists.confirm = cc.confirmations.map((c) => all.find((d) => d.id === c.dispute_id)).filter(Boolean);
  renderSites();
  renderCounts();
  renderList();
}

// Applications for judicial confirmation waiting for a decision (H3's routes). A desk without
// them still shows everything else.
async function loadConfirmations() {
  try {
    return listOf(await desk.api("GET", "/api/confirmations?state=applied"), "confirmations");
  } catch (err) {
    if (err.status === 404 || err.status === 405) return [];
    throw err;
  }
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
  for (const b of $("disputes").querySelectorAll("button[data-dispute]")) {
    b.setAttribute("aria-current", String(cc.opened !== null && b.dataset.dispute === cc.opened.dispute.id));
  }
}

// ------------------------------------------------------------------ one dispute
async function openDispute(id) {
  const [dispute, events, evidence, agreement] = await Promise.all([
    desk.api("GET", `/api/disputes/${id}`),
    desk.api("GET", `/api/disputes/${id}/events`).catch(() => []),
    desk.api("GET", `/api/disputes/${id}/evidence`).catch(() => []),
    desk.agreementOf(id).catch(() => null),
  ]);
  const d = dispute.dispute || dispute;
  let doc = null;
  if (agreement) doc = await desk.api("GET", `/api/documents/${agreement.id}`).catch(() => agreement);
  cc.opened = { dispute: d, events: listOf(events, "events"), evidence: listOf(evidence, "evidence"), agreement: doc };
  await desk.loadPeople(ctx.people, [d.mediator_id, d.judge_id]);
  renderOpened();
}

function renderOpened() {
  const box = $("dispute-detail");
  if (!cc.opened) {
    box.hidden = true;
    return;
  }
  const { dispute, events, evidence, agreement } = cc.opened;
  box.replaceChildren(
    view.detail(dispute, ctx, { events, evidence }),
    agreementPart(dispute, agreement),
    filingPart(dispute),
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

function entriesOf(doc) {
  return doc.entries || doc.chain || [];
}

// The agreement as signed: its text, the text's SHA-256, every signature (or refusal) with its
// chain hash, the PDF; then the application and the decision, if any.
function agreementPart(dispute, doc) {
  if (!doc) return null;
  const entries = entriesOf(doc);
  const signatures = entries.filter((e) => e.type === "signature" || e.type === "refusal");
  const decision = entries.filter((e) => e.type === "decision").pop();
  const signerName = (e) => {
    const s = (doc.signers || []).find((x) => x.key === e.signer);
    return s ? s.name : e.signer || "";
  };
  return el(
    "section",
    { class: "agreement", dataset: { document: doc.id, state: doc.state || "" } },
    el("h3", { text: t("liaison.agreement") }),
    doc.text ? el("div", { class: "agreement-text", text: doc.text }) : null,
    el("p", { class: "hash" }, `${t("liaison.agreement_hash")}: `, el("span", { class: "text-sha256", text: doc.text_sha256 || "" })),
    el("h3", { text: t("liaison.signatures") }),
    el(
      "ul",
      { class: "signatures hash-list" },
      ...signatures.map((e) =>
        el(
          "li",
          { dataset: { type: e.type } },
          el("div", {
            text:
              e.type === "refusal"
                ? t("liaison.refused", { signer: signerName(e), at: view.fmtTime(e.at), reason: e.reason || "" })
                : t("liaison.signed", { signer: signerName(e), at: view.fmtTime(e.at) }),
          }),
          e.attestation ? el("div", { class: "detail", text: t("liaison.attested", { officer: e.attestation.officer_name }) }) : null,
          el("div", { class: "hash" }, `${t("liaison.entry_hash")}: ${e.hash}`),
        ),
      ),
    ),
    el(
      "div",
      { class: "actions" },
      el("button", { type: "button", class: "link", dataset: { pdf: "agreement" }, text: t("liaison.pdf"), onclick: () => desk.openPdf(`/api/documents/${doc.id}/pdf`) }),
    ),
    decision ? decisionPart(doc, decision) : null,
  );
}

function decisionPart(doc, decision) {
  const confirmed = decision.decision === "confirm" || decision.decision === "confirmed";
  const pdfPath = decision.pdf_url || `/api/documents/${doc.id}/decision.pdf`;
  return el(
    "section",
    { class: "decision", dataset: { decision: confirmed ? "confirmed" : "refused" } },
    el("h3", { text: t("liaison.decision") }),
    el("p", {}, el("strong", { text: t(confirmed ? "liaison.decision.confirmed" : "liaison.decision.refused") }), " ", el("span", { class: "detail", text: t("liaison.decision_by", { judge: decision.judge_name || decision.actor?.name || "", at: view.fmtTime(decision.at) }) })),
    decision.reason ? el("p", { class: "wrap", text: decision.reason }) : null,
    el("p", { class: "hash" }, `${t("liaison.decision_hash")}: `, el("span", { class: "decision-hash", text: decision.hash })),
    el("div", { class: "actions" }, el("button", { type: "button", class: "link", dataset: { pdf: "decision" }, text: t("liaison.decision_pdf"), onclick: () => desk.openPdf(pdfPath) })),
  );
}

// The filing package of a failed mediation (docs/FILING.md): what the court's own filing system
// takes in; the national platforms stay the system of record.
function filingPart(d) {
  if (d.state !== "failed" && d.state !== "filed") return null;
  const base = `/api/disputes/${d.id}/filing`;
  const name = d.number || d.id;
  return el(
    "div",
    { class: "actions filing" },
    el("button", { type: "button", dataset: { filing: "json" }, text: t("liaison.filing_json"), onclick: () => desk.download(base, `${name}.json`) }),
    el("button", { type: "button", dataset: { filing: "zip" }, text: t("liaison.filing_zip"), onclick: () => desk.download(`${base}?format=zip`, `${name}.zip`) }),
  );
}

function waitingConfirmation(d) {
  return cc.confirmations.find((c) => c.dispute_id === d.id) || null;
}

function actions(d) {
  const box = el("section", { class: "acts" });
  const row = el("div", { class: "actions" });
  const forms = el("div");
  box.append(row, forms);
  const act = (key, label, fn, cls) => row.append(el("button", { type: "button", class: cls, dataset: { act: key }, text: t(label), onclick: fn }));
  const ask = (labelKey, buttonKey, onReason, opts) => {
    forms.replaceChildren(view.reasonForm(labelKey, buttonKey, onReason, opts));
    forms.querySelector("input").focus();
  };
  const pending = waitingConfirmation(d);
  if (pending && cc.opened?.agreement) {
    const doc = cc.opened.agreement;
    act("confirm", "liaison.confirm", () => ask("liaison.confirm_note", "liaison.confirm", (reason) => decide(d, doc, "confirm", reason)), "primary");
    act("refuse", "liaison.refuse", () => ask("liaison.refuse_reason", "liaison.refuse", (reason) => decide(d, doc, "refuse", reason), { danger: true }), "danger");
  }
  if (d.state === "site_mediation") {
    act("take-up", "liaison.take_up", () => ask("liaison.reason.take_up", "liaison.take_up", (reason) => transition(d, "judge_mediation", reason)));
  }
  if (d.state === "judge_mediation") {
    act("session", "liaison.guide_session", () => startSession(d), "primary");
    act("failed", "act.failed", () => ask("act.reason.failed", "act.failed", (reason) => transition(d, "failed", reason), { danger: true }), "danger");
  }
  if (!row.children.length) return null;
  return box;
}

async function decide(d, doc, decision, reason) {
  await run(() => desk.api("POST", `/api/documents/${doc.id}/decision`, { decision, reason, ground: decision === "refuse" ? "other" : undefined }), d.id);
}

function transition(d, to, reason) {
  return run(() => desk.api("POST", `/api/disputes/${d.id}/transitions`, { to, reason }), d.id);
}

async function startSession(d) {
  try {
    const reply = await desk.api("POST", `/api/disputes/${d.id}/sessions`, {});
    const url = desk.joinUrlFor(reply, cc.me);
    if (url) window.open(url, "_blank", "noopener");
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
async function refresh() {
  try {
    await loadSites();
    await loadLists();
    if (cc.opened) await openDispute(cc.opened.dispute.id);
    desk.clearError();
  } catch (err) {
    desk.showError(err);
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
