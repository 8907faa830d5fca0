// /sign?document=<id>: read a document and sign it (or refuse, with a reason) on a signature pad
// (signature_pad, /vendor/signature_pad.min.js). Three ways in (docs/SIGNING.md):
//   * a party's signing link: /sign?document=<id>#link=sl_… — the token stays in the fragment
//     (never sent in a URL) and is the bearer credential of every call;
//   * the site officer's session, on the site's device: the officer picks the party present,
//     ticks the attestation, and the party signs;
//   * a signer's own account session (the mediator).
// The text's SHA-256 is computed here from the text shown and must equal the server's: what is
// signed is what was on the screen.

import * as i18n from "./i18n.js";
import * as account from "./account.js";

const $ = (id) => document.getElementById(id);
const t = (key, vars) => i18n.t(key, vars);

const params = new URLSearchParams(location.search);
const documentId = params.get("document") || "";
const linkToken = new URLSearchParams(location.hash.slice(1)).get("link");

let me = null; // {account, admin} of a session; null with a link
let doc = null;
let pad = null;
let shownHash = null; // SHA-256 of the text as shown, or null if the browser cannot compute it

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function credential() {
  return linkToken || account.sessionToken();
}

async function call(method, path, body) {
  const headers = { Authorization: `Bearer ${credential()}` };
  const init = { method, headers, cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (_) {
    throw new ApiError(0, t("sign.network"));
  }
  let data = null;
  try {
    data = await res.json();
  } catch (_) {
    // Not JSON.
  }
  if (!res.ok) throw new ApiError(res.status, (data && data.error) || `HTTP ${res.status}`);
  return data;
}

function showError(text) {
  $("error").textContent = text;
  $("error").hidden = !text;
}

function showNotice(text) {
  $("notice").textContent = text;
  $("notice").hidden = !text;
}

async function sha256Hex(text) {
  if (!(window.crypto && crypto.subtle)) return null; // not a secure context: trust the server's
  const bytes = new TextEncoder().encode(text.normalize("NFC"));
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

// ------------------------------------------------------------------ who signs here

// The signers this caller may sign for now: [{signer, partyId}] (partyId for in person).
function mySigners() {
  if (!doc || doc.state !== "open") return [];
  const pending = doc.signers.filter((s) => s.status === "pending");
  const acct = me && me.account;
  if (!acct) return [];
  const own = pending.filter((s) => s.key === `account:${acct.id}`).map((s) => ({ signer: s, partyId: null }));
  const inPerson =
    acct.role === "officer"
      ? pending.filter((s) => s.kind === "party").map((s) => ({ signer: s, partyId: s.ref }))
      : [];
  return [...own, ...inPerson];
}

// A link is bound to one party: the server names it (link_signer) when the link reads.
function linkSigner() {
  return doc.signers.find((s) => s.key === doc.link_signer && s.status === "pending") || null;
}

function choices() {
  if (linkToken) {
    const s = linkSigner();
    return s ? [{ signer: s, partyId: null }] : [];
  }
  return mySigners();
}

function selected() {
  const list = choices();
  if (list.length <= 1) return list[0] || null;
  return list.find((c) => c.signer.key === $("party-select").value) || list[0];
}

// ------------------------------------------------------------------ rendering

function stateText(state) {
  return t(`sign.state.${state}`);
}

function renderDocument() {
  $("doc-title").textContent = doc.title;
  $("doc-id").textContent = doc.id;
  $("doc-state").textContent = stateText(doc.state);
  $("doc-text").textContent = doc.text;
  $("doc-sha256").textContent = doc.text_sha256;
  $("pdf-link").href = doc.pdf_url;
  const check = $("hash-check");
  if (shownHash === null) check.textContent = t("sign.hash_unchecked");
  else check.textContent = shownHash === doc.text_sha256 ? t("sign.hash_ok") : t("sign.hash_bad");
  const list = $("signers");
  list.replaceChildren(
    ...doc.signers.map((s) => {
      const li = document.createElement("li");
      li.dataset.signer = s.key;
      const who = document.createElement("span");
      who.className = "grow";
      who.textContent = `${s.role}：${s.name}`;
      const tag = document.createElement("span");
      tag.className = `tag state-${s.status}`;
      tag.textContent = t(`sign.status.${s.status}`);
      const act = doc.entries.find(
        (e) => e.signer === s.key && (e.type === "signature" || e.type === "refusal" || e.type === "decision"),
      );
      const when = document.createElement("span");
      when.className = "detail";
      when.textContent = act ? new Date(act.at).toLocaleString(i18n.getLang()) : "";
      li.append(who, tag, when);
      return li;
    }),
  );
}

function renderPad() {
  const list = choices();
  const signable = list.length > 0;
  $("pad-card").hidden = !signable;
  $("done-card").hidden = signable;
  if (!signable) {
    $("done-title").textContent = t(doc.state === "effective" ? "sign.all_signed" : "sign.nothing_to_sign");
    $("done-text").textContent =
      doc.state === "open" ? t("sign.not_yours") : t("sign.closed", { state: stateText(doc.state) });
    return;
  }
  const select = $("party-select");
  $("party-choice").hidden = list.length <= 1;
  const previous = select.value;
  select.replaceChildren(
    ...list.map((c) => {
      const o = document.createElement("option");
      o.value = c.signer.key;
      o.textContent = `${c.signer.role}：${c.signer.name}`;
      return o;
    }),
  );
  if (list.some((c) => c.signer.key === previous)) select.value = previous;
  const chosen = selected();
  $("signing-as").textContent = t("sign.signing_as", { role: chosen.signer.role, name: chosen.signer.name });
  $("attest-box").hidden = !chosen.partyId;
  resizePad();
}

function render() {
  renderDocument();
  renderPad();
}

// ------------------------------------------------------------------ the pad

// The canvas is drawn at the screen's pixel density; a resize keeps what was drawn.
function resizePad() {
  const canvas = $("pad");
  if (!pad || canvas.offsetWidth === 0) return;
  const ratio = Math.max(window.devicePixelRatio || 1, 1);
  const data = pad.toData();
  canvas.width = canvas.offsetWidth * ratio;
  canvas.height = canvas.offsetHeight * ratio;
  canvas.getContext("2d").scale(ratio, ratio);
  pad.clear();
  if (data.length) pad.fromData(data);
}

// ------------------------------------------------------------------ acts

async function load() {
  doc = await call("GET", `/api/documents/${encodeURIComponent(documentId)}`);
  shownHash = await sha256Hex(doc.text);
  render();
}

function textHash() {
  return shownHash || doc.text_sha256;
}

function readyToAct(needInk) {
  const chosen = selected();
  if (!chosen) return null;
  if (shownHash !== null && shownHash !== doc.text_sha256) {
    showError(t("sign.hash_bad"));
    return null;
  }
  if (!$("read").checked) {
    showError(t("sign.read_first"));
    return null;
  }
  if (chosen.partyId && !$("attest").checked) {
    showError(t("sign.attest_first"));
    return null;
  }
  if (needInk && pad.isEmpty()) {
    showError(t("sign.empty"));
    return null;
  }
  return chosen;
}

async function act(kind, extra) {
  const chosen = readyToAct(kind === "signatures");
  if (!chosen) return;
  showError("");
  const body = { text_sha256: textHash(), ...extra };
  if (chosen.partyId) {
    body.party_id = chosen.partyId;
    body.attest = true;
  }
  for (const b of document.querySelectorAll("button")) b.disabled = true;
  try {
    const result = await call("POST", `/api/documents/${encodeURIComponent(documentId)}/${kind}`, body);
    doc = result.document;
    pad.clear();
    $("read").checked = false;
    $("attest").checked = false;
    $("refuse-form").hidden = true;
    const name = chosen.signer.name;
    let text = kind === "signatures" ? t("sign.signed", { name }) : t("sign.refused", { name });
    if (doc.state === "effective") text += ` ${t("sign.effective")}`;
    showNotice(text);
    render();
  } catch (err) {
    showError(err.message);
    if (err.status === 409) await load().catch(() => {});
  } finally {
    for (const b of document.querySelectorAll("button")) b.disabled = false;
  }
}

// A plain link would carry no credential: fetch the PDF with it and open what came back, in a
// tab opened at the click (a tab opened after an await is a blocked pop-up).
async function openPdf(event) {
  event.preventDefault();
  const tab = window.open("", "_blank");
  try {
    const res = await fetch(doc.pdf_url, { headers: { Authorization: `Bearer ${credential()}` }, cache: "no-store" });
    if (!res.ok) throw new ApiError(res.status, `HTTP ${res.status}`);
    const url = URL.createObjectURL(await res.blob());
    if (tab) tab.location.href = url;
    else location.href = url;
  } catch (err) {
    if (tab) tab.close();
    showError(err.message);
  }
}

// A link's party proves who they are before the link reads anything: the last 6 characters
// of their ID number, checked by the server (5 wrong answers burn the link).
function confirmIdentity() {
  $("loading").hidden = true;
  $("identity-card").hidden = false;
  $("id-last6").focus();
  return new Promise((resolve) => {
    $("identity-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const value = $("id-last6").value.trim().toUpperCase();
      if (!/^[0-9]{5}[0-9X]$/.test(value)) {
        showError(t("sign.identity_format"));
        return;
      }
      $("identity-submit").disabled = true;
      try {
        await call("POST", `/api/documents/${encodeURIComponent(documentId)}/identity`, { id_last6: value });
        showError("");
        showNotice(t("sign.identity_ok"));
        $("identity-card").hidden = true;
        resolve();
      } catch (err) {
        showError(err.message);
        if (err.status === 401) $("identity-form").hidden = true; // burned or expired
      } finally {
        $("identity-submit").disabled = false;
      }
    });
  });
}

async function whoAmI() {
  if (linkToken) {
    $("who").textContent = t("sign.via_link");
    return;
  }
  if (!account.sessionToken()) {
    account.toLogin();
    return;
  }
  me = await call("GET", "/api/me");
  $("who").textContent = me.account ? `${me.account.name}` : t("sign.admin_key");
}

async function main() {
  await i18n.use("/static/i18n/{lang}.json");
  await i18n.use("/static/i18n/sign.{lang}.json");
  i18n.apply();
  i18n.bindSwitch($("lang-switch"));
  i18n.onChange(() => doc && render());
  if (!documentId) {
    $("loading").textContent = t("sign.no_document");
    return;
  }
  pad = new window.SignaturePad($("pad"), { penColor: "#111", minWidth: 1, maxWidth: 3 });
  pad.addEventListener("beginStroke", () => showError("")); // the pad's own complaint is answered
  window.addEventListener("resize", resizePad);
  $("clear").addEventListener("click", () => pad.clear());
  $("sign").addEventListener("click", () => act("signatures", { image: pad.toDataURL("image/png") }));
  $("refuse-open").addEventListener("click", () => {
    $("refuse-form").hidden = false;
    $("refuse-reason").focus();
  });
  $("refuse-cancel").addEventListener("click", () => {
    $("refuse-form").hidden = true;
  });
  $("refuse-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const reason = $("refuse-reason").value.trim();
    if (!reason) return;
    act("refusals", { reason });
  });
  $("party-select").addEventListener("change", renderPad);
  $("pdf-link").addEventListener("click", openPdf);
  try {
    await whoAmI();
    if (!linkToken && !account.sessionToken()) return;
    if (linkToken) await confirmIdentity();
    $("loading").hidden = true;
    $("layout").hidden = false;
    await load();
  } catch (err) {
    $("loading").hidden = true;
    if (err.status === 401 && !linkToken) {
      account.toLogin();
      return;
    }
    showError(err.message);
  }
}

main();
