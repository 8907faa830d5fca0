// /kiosk: the standby screen of a site's machine (docs/NETWORK.md). It holds the kiosk's
// device credential in localStorage (pasted on the first visit, or from the enrolment link's
// ?credential=, which is then taken out of the address bar), shows the site's name in big
// text, and sends POST /api/kiosk/heartbeat with the camera's and microphone's state every
// heartbeat_seconds (15 s), so the network knows the site is online.

import * as i18n from "./i18n.js";

const $ = (id) => document.getElementById(id);
const KEY = "cloudcourt.kiosk.credential";
const VERSION = "kiosk-1";

let credential = null;
let timer = null;
let status = null; // the last KioskStatus, for re-rendering on a language switch
let devices = { camera: null, microphone: null };

function stored() {
  try {
    return localStorage.getItem(KEY);
  } catch (_) {
    return null;
  }
}

function store(value) {
  try {
    if (value) localStorage.setItem(KEY, value);
    else localStorage.removeItem(KEY);
  } catch (_) {
    // Kept for this visit only.
  }
}

// The credential of the enrolment link: kept, then removed from the address (and history), so
// that it is not left on the screen or in a bookmark.
function fromUrl() {
  const url = new URL(location.href);
  const value = url.searchParams.get("credential");
  if (!value) return null;
  url.searchParams.delete("credential");
  history.replaceState(null, "", url.pathname + url.search + url.hash);
  return value.trim();
}

async function call(method, path, body) {
  const init = { method, headers: { Authorization: `Bearer ${credential}` }, cache: "no-store" };
  if (body) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const data = res.ok ? await res.json() : null;
  return { status: res.status, data };
}

// Whether the machine has a camera and a microphone at all (no permission prompt: only the
// kinds of the devices are read, never their media).
async function checkDevices() {
  try {
    const list = await navigator.mediaDevices.enumerateDevices();
    devices = {
      camera: list.some((d) => d.kind === "videoinput"),
      microphone: list.some((d) => d.kind === "audioinput"),
    };
  } catch (_) {
    devices = { camera: false, microphone: false };
  }
}

function setup(bad) {
  clearTimeout(timer);
  status = null;
  $("kiosk-site").hidden = true;
  $("kiosk-setup").hidden = false;
  $("setup-error").hidden = !bad;
  $("credential").value = "";
  $("credential").focus();
}

function time(iso) {
  return iso ? new Date(iso).toLocaleTimeString(i18n.getLang(), { hour: "2-digit", minute: "2-digit", second: "2-digit" }) : "—";
}

function render(online) {
  if (!status) return;
  const site = status.site;
  $("kiosk-setup").hidden = true;
  $("kiosk-site").hidden = false;
  $("site-kind").textContent = i18n.t(`net.kind.${site.kind}`);
  $("site-name").textContent = site.name;
  $("site-place").textContent = [site.county, site.township, site.village, site.address].filter(Boolean).join(" · ");
  $("site-retired").hidden = !site.retired;
  $("kiosk-state").dataset.state = online ? "online" : "offline";
  $("kiosk-state").textContent = i18n.t(online ? "kiosk.online" : "kiosk.offline");
  for (const [id, key, what] of [["camera-state", "camera", "kiosk.camera"], ["mic-state", "microphone", "kiosk.microphone"]]) {
    const ok = devices[key];
    $(id).dataset.state = ok ? "online" : "offline";
    $(id).textContent = `${i18n.t(what)}：${i18n.t(ok ? "kiosk.ok" : "kiosk.missing")}`;
  }
  renderToday(status.today || []);
  $("last-beat").textContent = i18n.t("kiosk.last_beat", { time: time(status.last_heartbeat_at) });
  $("device-label").textContent = status.label;
  document.title = `${site.name} · ${i18n.t("kiosk.title")}`;
}

// Today's sessions and hearings at this site: time, kind, number, state (no names: the screen
// is in a public room).
function renderToday(items) {
  const list = $("today-list");
  list.replaceChildren();
  $("today-empty").hidden = items.length > 0;
  for (const item of items) {
    const hhmm = new Date(item.scheduled_at).toLocaleTimeString(i18n.getLang(), { hour: "2-digit", minute: "2-digit" });
    const li = document.createElement("li");
    li.dataset.hearingId = item.id;
    li.dataset.state = item.state;
    for (const [cls, text] of [
      ["when", hhmm],
      ["kind", i18n.t(`kiosk.kind.${item.kind}`)],
      ["number", item.case_number],
      ["state", i18n.t(`kiosk.state.${item.state}`)],
    ]) {
      const span = document.createElement("span");
      span.className = cls;
      span.textContent = text;
      li.append(span);
    }
    if (item.kiosk_seat) {
      const join = document.createElement("button");
      join.type = "button";
      join.className = "primary join";
      join.textContent = i18n.t("kiosk.join");
      join.addEventListener("click", () => joinSession(item.id, join));
      li.append(join);
    }
    list.append(li);
  }
}

// Into the session as the site (the room's kiosk layout, no device-check click): a token of
// the kiosk's own seat, minted for it now.
async function joinSession(hearingId, button) {
  button.disabled = true;
  try {
    const reply = await call("POST", `/api/kiosk/hearings/${encodeURIComponent(hearingId)}/token`);
    if (reply.status === 201) {
      location.assign(`${reply.data.join_url}&autojoin=1`);
      return;
    }
    button.textContent = i18n.t("kiosk.join_failed", { error: `HTTP ${reply.status}` });
  } catch (_) {
    button.textContent = i18n.t("kiosk.join_failed", { error: i18n.t("net.network_error") });
  }
  button.disabled = false;
}

let online = false;

async function beat() {
  clearTimeout(timer);
  let every = (status && status.heartbeat_seconds) || 15;
  try {
    await checkDevices();
    const reply = await call("POST", "/api/kiosk/heartbeat", {
      camera: Boolean(devices.camera),
      microphone: Boolean(devices.microphone),
      app_version: VERSION,
    });
    if (reply.status === 401) {
      // Revoked (or never valid): forget it and ask for a new one.
      store(null);
      credential = null;
      setup(true);
      return;
    }
    online = reply.status === 200;
    if (online) {
      status = reply.data;
      every = status.heartbeat_seconds;
    }
  } catch (_) {
    online = false; // the uplink is down: keep trying, show offline meanwhile
    every = Math.min(every, 5);
  }
  render(online);
  timer = setTimeout(beat, every * 1000);
}

async function bind(value) {
  credential = value;
  const reply = await call("GET", "/api/kiosk").catch(() => ({ status: 0 }));
  if (reply.status === 401) {
    store(null);
    credential = null;
    setup(true);
    return;
  }
  store(value);
  if (reply.status === 200) status = reply.data;
  await beat();
}

function tick() {
  $("kiosk-clock").textContent = new Date().toLocaleString(i18n.getLang(), {
    month: "2-digit", day: "2-digit", weekday: "short", hour: "2-digit", minute: "2-digit",
  });
}

async function main() {
  await i18n.use("/static/i18n/{lang}.json");
  await i18n.use("/static/i18n/network.{lang}.json");
  await i18n.use("/static/i18n/kiosk.{lang}.json");
  i18n.apply();
  i18n.bindSwitch($("lang-switch"));
  i18n.onChange(() => {
    render(online);
    tick();
  });
  tick();
  setInterval(tick, 10000);
  $("setup-form").addEventListener("submit", (event) => {
    event.preventDefault();
    bind($("credential").value.trim());
  });
  $("unbind").addEventListener("click", () => {
    store(null);
    credential = null;
    setup(false);
  });
  const given = fromUrl() || stored();
  if (given) await bind(given);
  else setup(false);
}

main();
