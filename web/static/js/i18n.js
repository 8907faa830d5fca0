// i18n: every text a page shows comes from a translation table; zh-CN by default, English
// switchable, the choice remembered in localStorage ("cloudcourt.lang").
//
// API (plain ES module, no build step):
//   import * as i18n from "/static/js/i18n.js";
//   await i18n.use("/static/i18n/{lang}.json");   // load a table for the current language; call
//                                                  // again with another URL to add your own table
//                                                  // (e.g. "/portal/i18n/{lang}.json"); tables
//                                                  // merge, later keys win. {lang} = "zh-CN"|"en".
//   i18n.t("room.lobby.title")                     // the text; missing key → the key itself
//   i18n.t("room.clock", {time: "00:12"})          // "{time}" placeholders are filled in
//   i18n.apply(root = document)                    // fill elements marked in HTML:
//       data-i18n="key" (textContent), data-i18n-title, data-i18n-placeholder,
//       data-i18n-aria-label (the attribute of that name)
//   await i18n.setLang("en")                       // switch: reloads every table, re-applies
//                                                  // the document, calls the listeners, remembers
//   i18n.getLang()                                 // "zh-CN" | "en"
//   i18n.onChange(fn)                              // fn(lang) after each switch (re-render
//                                                  // texts made in JS)
//   i18n.bindSwitch(button)                        // a button that toggles zh-CN ⇄ English
//   i18n.LANGS                                     // ["zh-CN", "en"]
//
// A table is a flat JSON object {"key": "text"}; the base table (/static/i18n/{lang}.json) holds
// "i18n.switch", the switch button's label. The URL ?lang=en overrides the remembered
// choice (and is remembered too), so a link can open a page in English.

export const LANGS = ["zh-CN", "en"];
const STORAGE_KEY = "cloudcourt.lang";
const DEFAULT_LANG = "zh-CN";

const sources = [];
let strings = {};
let lang = initialLang();
const listeners = [];

function initialLang() {
  const fromUrl = new URLSearchParams(location.search).get("lang");
  if (LANGS.includes(fromUrl)) {
    remember(fromUrl);
    return fromUrl;
  }
  let saved = null;
  try {
    saved = localStorage.getItem(STORAGE_KEY);
  } catch (_) {
    // Storage can be disabled (private mode, kiosk policies): fall back to the default.
  }
  return LANGS.includes(saved) ? saved : DEFAULT_LANG;
}

function remember(value) {
  try {
    localStorage.setItem(STORAGE_KEY, value);
  } catch (_) {
    // Not remembered across visits; the page still works.
  }
}

async function fetchTable(pattern, which) {
  const res = await fetch(pattern.replace("{lang}", which), { cache: "no-cache" });
  if (!res.ok) throw new Error(`translation table ${pattern} (${which}): HTTP ${res.status}`);
  return res.json();
}

async function reload() {
  const tables = await Promise.all(sources.map((p) => fetchTable(p, lang)));
  strings = Object.assign({}, ...tables);
  document.documentElement.lang = lang;
}

export async function use(pattern) {
  sources.push(pattern);
  Object.assign(strings, await fetchTable(pattern, lang));
  document.documentElement.lang = lang;
}

export function getLang() {
  return lang;
}

export function t(key, params) {
  let text = Object.prototype.hasOwnProperty.call(strings, key) ? strings[key] : key;
  if (params) {
    text = text.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
  }
  return text;
}

const ATTRS = ["title", "placeholder", "aria-label"];

export function apply(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const attr of ATTRS) {
    const data = `data-i18n-${attr}`;
    for (const el of root.querySelectorAll(`[${data}]`)) el.setAttribute(attr, t(el.getAttribute(data)));
  }
}

export function onChange(fn) {
  listeners.push(fn);
}

export async function setLang(value) {
  if (!LANGS.includes(value)) throw new Error(`unknown language ${value}`);
  lang = value;
  remember(value);
  await reload();
  apply();
  for (const fn of listeners) fn(lang);
}

export function bindSwitch(button) {
  const label = () => {
    // Each table's "i18n.switch" names the other language in that language, so anyone finds it.
    button.textContent = t("i18n.switch");
  };
  label();
  button.addEventListener("click", async () => {
    await setLang(lang === "en" ? "zh-CN" : "en");
    label();
  });
}
