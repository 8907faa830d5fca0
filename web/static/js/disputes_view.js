// One dispute as the officer's and the liaison judge's desks show it: a line of a list, and the
// dispute opened — its parties (ID numbers and phones masked, as the API gives them), where the
// routing ladder sent it and by which rule, its time limits with the overdue ones in red, its
// evidence with each file's SHA-256, and its history (every transition: who, when, why).
// The pages add their own actions below it. Texts: /static/i18n/disputes.{lang}.json.
//
//   import * as view from "/static/js/disputes_view.js";
//   view.listItem(dispute, ctx, onOpen)      -> <li>
//   view.markOpened(listNode, openedId)      marks the opened one's line
//   view.detail(dispute, ctx, {events, evidence}) -> <div> (the facts, no actions)
//   view.sha256Hex(arrayBuffer)              -> Promise<"64 hex">
//   ctx = {sites: Map(id → site), people: Map(id → {name}), download(path, filename)}

import * as i18n from "./i18n.js";
import { el } from "./dom.js";

const t = i18n.t;

// Times in the reader's own clock (the API speaks UTC ISO 8601), minutes are enough on a desk.
export function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function fmtSize(bytes) {
  if (!Number.isFinite(bytes)) return "";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

export function stateBadge(state) {
  return el("span", { class: "state", dataset: { state }, text: t(`dispute.state.${state}`) });
}

export function typeLabel(type) {
  return t(`dispute.type.${type}`);
}

function siteName(ctx, id) {
  if (!id) return "";
  const site = ctx.sites.get(id);
  return site ? site.name : id;
}

function personName(ctx, id) {
  if (!id) return "";
  const person = ctx.people.get(id);
  return person ? person.name : id;
}

// Where the ladder sent it: a site's mediation, the command center (诉源治理指挥中心) or the
// judge's guided mediation at a site.
export function whereText(dispute, ctx) {
  const handler = dispute.handler || {};
  const level = handler.level || "site";
  const siteId = handler.site_id || dispute.intake_site_id;
  // At a police station the first rung is the police's own mediation (警调).
  const police = level === "site" && ctx.sites.get(siteId)?.kind === "police";
  return t(police ? "handler.police" : `handler.${level}`, { site: siteName(ctx, siteId) });
}

// The rule that routed it: the ladder (docs/DISPUTES.md) names each rule, the dispute keeps
// the one that matched at intake (rule_id, ladder_version), and the routing event's reason
// says it in words ("路由规则 same-village: 当事人同住一村（社区）的……").
function ruleText(dispute, events) {
  const routed = (events || []).find((e) => e.from_state === "intake");
  if (routed && routed.reason) return routed.reason;
  const rule = dispute.rule || dispute.rule_label || null;
  if (rule && typeof rule === "object") return [rule.id, rule.label].filter(Boolean).join(": ");
  if (rule) return rule;
  if (!dispute.rule_id) return "";
  return dispute.ladder_version ? `${dispute.rule_id} (v${dispute.ladder_version})` : dispute.rule_id;
}

export function isOverdue(dispute) {
  return Array.isArray(dispute.overdue) && dispute.overdue.length > 0;
}

function overdueBadge(dispute) {
  return isOverdue(dispute) ? el("span", { class: "overdue", text: t("dispute.overdue") }) : null;
}

export function listItem(dispute, ctx, onOpen) {
  const button = el(
    "button",
    { type: "button", dataset: { dispute: dispute.id }, onclick: () => onOpen(dispute) },
    el("span", { class: "number", text: `${dispute.number || dispute.id} · ${typeLabel(dispute.type)}` }),
    el("span", {}, stateBadge(dispute.state), " ", overdueBadge(dispute)),
    el("span", { class: "where", text: dispute.rule_id ? t("dispute.where_rule", { where: whereText(dispute, ctx), rule: dispute.rule_id }) : whereText(dispute, ctx) }),
    el("span", { class: "summary", text: dispute.summary || "" }),
  );
  return el("li", { dataset: { dispute: dispute.id, state: dispute.state, overdue: String(isOverdue(dispute)) } }, button);
}

// The list's line of the dispute opened beside it is marked (aria-current), the others not;
// openedId null marks none. Both desks call it after drawing the list or opening a dispute.
export function markOpened(list, openedId) {
  for (const b of list.querySelectorAll("button[data-dispute]")) {
    b.setAttribute("aria-current", String(openedId !== null && b.dataset.dispute === openedId));
  }
}

function facts(pairs) {
  const dl = el("dl", { class: "facts" });
  for (const [key, value] of pairs) {
    if (value === "" || value === null || value === undefined) continue;
    dl.append(el("dt", { text: t(key) }), el("dd", { dataset: { fact: key } }, value));
  }
  return dl;
}

function mediatorText(dispute, ctx) {
  if (!dispute.mediator_id) return t("dispute.mediator_none");
  const name = personName(ctx, dispute.mediator_id);
  const key = { appointed: "dispute.mediator_pending", accepted: "dispute.mediator_accepted", declined: "dispute.mediator_declined" }[dispute.mediator_status];
  return key ? t(key, { name }) : name;
}

// The page's own words for a limit; the server's label (zh-CN) for one the page does not know.
function limitLabel(limit, label) {
  const key = `limit.${limit}`;
  const text = t(key);
  return text === key ? label || limit : text;
}

// The time limits (signaling/time_limits.py; SPC online mediation rules 2021: a mediator within
// 3 working days, their answer within 3, mediation concluded within 30 days): each with its due
// moment and its status — running, met (late or in time), overdue (red), or ended unmet.
function deadlines(dispute) {
  const list = el("ul", { class: "deadlines" });
  const overdue = new Map((dispute.overdue || []).map((o) => [o.limit, o]));
  for (const item of dispute.deadlines || []) {
    const status = overdue.has(item.limit) ? "overdue" : item.status || "running";
    const params = { limit: limitLabel(item.limit, item.label), due: fmtTime(item.due_at), met: fmtTime(item.met_at) };
    const key = status === "met" && item.late ? "dispute.deadline.met_late" : `dispute.deadline.${status}`;
    list.append(
      el("li", { dataset: { limit: item.limit, status, overdue: String(status === "overdue") }, title: item.rule || null, text: t(key, params) }),
    );
    overdue.delete(item.limit);
  }
  for (const item of overdue.values()) {
    list.append(
      el("li", {
        dataset: { limit: item.limit, status: "overdue", overdue: "true" },
        text: t("dispute.deadline.overdue", { limit: limitLabel(item.limit), due: fmtTime(item.due_at) }),
      }),
    );
  }
  if (!list.children.length) list.append(el("li", { class: "detail", text: t("dispute.no_deadlines") }));
  return list;
}

// Each consent ticked or crossed, compact: 在线调解 ✔ · 电子送达 ✔.
function consentText(consents) {
  const c = consents || {};
  return ["online_mediation", "electronic_service"]
    .map((k) => `${t(`party.consent_short.${k}`)} ${c[k] ? "✔" : "✖"}`)
    .join(" · ");
}

function parties(dispute) {
  const head = el(
    "tr",
    {},
    ...["party.side", "party.name", "party.id_number", "party.phone", "party.address", "party.place", "party.consents"].map(
      (k) => el("th", { text: t(k) }),
    ),
  );
  const rows = (dispute.parties || []).map((p) =>
    el(
      "tr",
      { dataset: { party: p.id || "" } },
      el("td", { class: "side", text: t(`party.side.${p.side}`) }),
      el("td", { class: "name", text: p.name }),
      // Masked by the server (110101********1234, 138****5678): shown exactly as given.
      el("td", { class: "pid", text: p.id_number || "" }),
      el("td", { class: "phone", text: p.phone || "" }),
      el("td", { text: p.address || "" }),
      el("td", { text: [p.township, p.village].filter(Boolean).join(" ") }),
      el("td", { class: "detail", text: consentText(p.consents) }),
    ),
  );
  return el("div", { class: "table-wrap" }, el("table", { class: "parties" }, el("thead", {}, head), el("tbody", {}, ...rows)));
}

function evidenceList(dispute, evidence, ctx) {
  const list = el("ul", { class: "evidence" });
  for (const e of evidence || []) {
    const name = e.filename || e.id;
    list.append(
      el(
        "li",
        { dataset: { evidence: e.id, sha256: e.sha256 } },
        el(
          "div",
          {},
          el("strong", { class: "wrap", text: name }),
          " ",
          el("span", { class: "detail", text: `${fmtSize(e.size)} · ${fmtTime(e.uploaded_at)}` }),
          " ",
          ctx.download
            ? el("button", {
                type: "button",
                class: "link",
                text: t("desk.download"),
                onclick: () => ctx.download(`/api/disputes/${dispute.id}/evidence/${e.id}`, name),
              })
            : null,
        ),
        el("div", { class: "hash" }, `${t("evidence.sha256")}: `, el("span", { class: "sha256", text: e.sha256 })),
      ),
    );
  }
  if (!list.children.length) list.append(el("li", { class: "detail", text: t("dispute.no_evidence") }));
  return list;
}

function stateName(state) {
  return state ? t(`dispute.state.${state}`) : "—";
}

function history(events) {
  const list = el("ol", { class: "events" });
  for (const ev of events || []) {
    const what = ev.from_state || ev.to_state
      ? t("event.transition", { from: stateName(ev.from_state), to: stateName(ev.to_state) })
      : ev.kind || "";
    list.append(
      el(
        "li",
        { dataset: { seq: String(ev.seq ?? ""), to: ev.to_state || "" } },
        el("span", { class: "at", text: fmtTime(ev.at) }),
        el("span", { class: "what", text: what }),
        el("span", { class: "actor detail", text: ev.actor || "" }),
        ev.reason ? el("span", { class: "reason", text: ev.reason }) : null,
      ),
    );
  }
  if (!list.children.length) list.append(el("li", { class: "detail", text: t("dispute.no_history") }));
  return list;
}

export function detail(dispute, ctx, { events = [], evidence = [] } = {}) {
  const head = el(
    "header",
    {},
    el("span", { class: "number", text: dispute.number || dispute.id }),
    el("span", { class: "tag", text: typeLabel(dispute.type) }),
    stateBadge(dispute.state),
    overdueBadge(dispute),
  );
  const where = el("span", { class: "where", text: whereText(dispute, ctx) });
  return el(
    "div",
    { class: "dispute", dataset: { dispute: dispute.id, state: dispute.state } },
    head,
    facts([
      ["dispute.summary", dispute.summary],
      ["dispute.handler", where],
      ["dispute.route", ruleText(dispute, events)],
      ["dispute.intake_site", siteName(ctx, dispute.intake_site_id)],
      ["dispute.received_at", fmtTime(dispute.received_at)],
      ["dispute.mediator", mediatorText(dispute, ctx)],
      ["dispute.judge", dispute.judge_id ? personName(ctx, dispute.judge_id) : ""],
      ["dispute.hearing", dispute.hearing_id || ""],
    ]),
    el("h3", { text: t("dispute.deadlines") }),
    deadlines(dispute),
    el("h3", { text: t("dispute.parties") }),
    parties(dispute),
    el("h3", { text: t("dispute.evidence") }),
    evidenceList(dispute, evidence, ctx),
    el("h3", { text: t("dispute.history") }),
    history(events),
  );
}

// A reason form that asks before an action the rules want explained (escalation, failure,
// declining, refusing a confirmation). Resolves with the reason; the caller posts it.
export function reasonForm(labelKey, buttonKey, onSubmit, { required = true, danger = false } = {}) {
  const input = el("input", { type: "text", maxlength: "500", autocomplete: "off" });
  const error = el("span", { class: "error", hidden: true });
  const id = `reason-${Math.random().toString(36).slice(2)}`;
  input.id = id;
  const form = el(
    "form",
    { class: "reason-form", novalidate: true },
    el("label", { for: id, text: t(labelKey) }),
    input,
    el("button", { type: "submit", class: danger ? "danger" : "primary", text: t(buttonKey) }),
    error,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const reason = input.value.trim();
    if (required && !reason) {
      error.textContent = t("desk.reason_required");
      error.hidden = false;
      input.focus();
      return;
    }
    error.hidden = true;
    await onSubmit(reason);
  });
  return form;
}

// Appointing the dispute's mediator, the same form on both desks: a pick of `people`
// ([{id, name}], the ones the API would accept) and a button; onPick(id) on submit. With
// nobody to pick, a line that says so.
export function appointForm(people, onPick) {
  if (!people.length) return el("p", { class: "detail", text: t("act.appoint_none") });
  const select = el(
    "select",
    { id: "appoint-pick", "aria-label": t("act.appoint_pick") },
    ...people.map((p) => el("option", { value: p.id, text: p.name })),
  );
  const form = el(
    "form",
    { class: "reason-form" },
    el("label", { for: "appoint-pick", text: t("act.appoint_pick") }),
    select,
    el("button", { type: "submit", class: "primary", text: t("act.appoint") }),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    onPick(select.value);
  });
  return form;
}

// ------------------------------------------------------------------ SHA-256 in the browser
// crypto.subtle exists only in a secure context (https, or this machine itself); a site
// machine that reaches the court over plain http on the court's own network has none, so the
// hash is computed here then (FIPS 180-4), and the officer still sees both hashes agree.

export async function sha256Hex(buffer) {
  if (globalThis.crypto && crypto.subtle) {
    const digest = await crypto.subtle.digest("SHA-256", buffer);
    return hex(new Uint8Array(digest));
  }
  return hex(sha256Fallback(new Uint8Array(buffer)));
}

function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

export function sha256Fallback(data) {
  const h = new Uint32Array([
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
  ]);
  const bitLength = data.length * 8;
  const padded = new Uint8Array(Math.ceil((data.length + 9) / 64) * 64);
  padded.set(data);
  padded[data.length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, Math.floor(bitLength / 2 ** 32));
  view.setUint32(padded.length - 4, bitLength >>> 0);
  const w = new Uint32Array(64);
  const rotr = (x, n) => (x >>> n) | (x << (32 - n));
  for (let off = 0; off < padded.length; off += 64) {
    for (let i = 0; i < 16; i++) w[i] = view.getUint32(off + i * 4);
    for (let i = 16; i < 64; i++) {
      const s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
      const s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) >>> 0;
    }
    let [a, b, c, d, e, f, g, hh] = h;
    for (let i = 0; i < 64; i++) {
      const S1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
      const ch = (e & f) ^ (~e & g);
      const t1 = (hh + S1 + ch + K[i] + w[i]) >>> 0;
      const S0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (S0 + maj) >>> 0;
      hh = g;
      g = f;
      f = e;
      e = (d + t1) >>> 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) >>> 0;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
  }
  const out = new Uint8Array(32);
  const outView = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) outView.setUint32(i * 4, h[i]);
  return out;
}

// ------------------------------------------------------------------ 身份证号 (GB 11643-1999)
// 6 digits of region, the birth date (YYYYMMDD), 3 of order, and a check character: the
// weighted sum of the 17 digits mod 11 picks it from "10X98765432". The server checks the same
// (signaling/schemas_disputes.py); checked here too so a typo shows before anything is sent.
const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK = "10X98765432";

export function validIdNumber(value) {
  const v = (value || "").trim().toUpperCase();
  if (!/^[0-9]{17}[0-9X]$/.test(v)) return false;
  const y = Number(v.slice(6, 10));
  const m = Number(v.slice(10, 12));
  const d = Number(v.slice(12, 14));
  const born = new Date(Date.UTC(y, m - 1, d));
  if (born.getUTCFullYear() !== y || born.getUTCMonth() !== m - 1 || born.getUTCDate() !== d) return false;
  if (y < 1900 || born.getTime() > Date.now()) return false;
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += Number(v[i]) * WEIGHTS[i];
  return CHECK[sum % 11] === v[17];
}

// A mobile number (11 digits from 1[3-9]) or a landline with its area code, as the server takes.
export function validPhone(value) {
  return /^(1[3-9][0-9]{9}|0[0-9]{2,3}-?[0-9]{7,8})$/.test((value || "").replace(/\s/g, ""));
}
