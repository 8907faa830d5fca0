// The page behind a token's join_url: /join/{hearing_id}?token=…[&autojoin=1][&kiosk=1][&lang=en]
// Device check → lobby → room. Judge and clerk get the console (lobby list, moderation, end,
// broadcast panel, rooms panel); role "site" or kiosk=1 gets the large, self-recovering kiosk layout.
// Everyone sees which room of the hearing they are in (docs/ROOMS.md); a witness waiting in the
// witness room sees the "请在此等候传唤" screen instead of the hearing.
// window.cc exposes the session and the view for diagnostics and the browser tests.

import * as i18n from "./i18n.js";
import { BroadcastPanel } from "./broadcast.js";
import { checkDevices, meter, resumeAudio, testTone } from "./devices.js";
import { RoomsPanel, moveTargets, roomName, roomOf } from "./rooms.js";
import { Session } from "./session.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const token = params.get("token");
const cc = (window.cc = { view: null, devices: null, session: null });

function show(view) {
  for (const el of document.querySelectorAll(".view")) el.hidden = el.id !== `view-${view}`;
  cc.view = view;
  document.body.dataset.view = view;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  node.append(...children);
  return node;
}

function message(titleKey, textKey) {
  $("message-title").dataset.i18n = titleKey;
  $("message-text").dataset.i18n = textKey;
  i18n.apply($("view-message"));
  show("message");
}

// ------------------------------------------------------------------ device check
async function deviceCheck() {
  show("devices");
  const result = await checkDevices();
  cc.devices = { camera: result.camera, microphone: result.microphone };
  $("preview").srcObject = result.stream;
  const report = $("device-report");
  report.replaceChildren(
    ...["camera", "microphone"].map((kind) =>
      el(
        "li",
        { dataset: { device: kind, status: result[kind] } },
        el("strong", { "data-i18n": `devices.${kind}` }),
        "：",
        el("span", { "data-i18n": `devices.status.${result[kind]}` }),
      ),
    ),
  );
  i18n.apply(report);
  const stopMeter = meter(result.stream, (level) => ($("mic-level").style.width = `${level * 100}%`));
  $("speaker-test").onclick = async () => {
    $("speaker-test").dataset.i18n = "devices.speaker_playing";
    i18n.apply($("view-devices"));
    await testTone();
    $("speaker-test").dataset.i18n = "devices.speaker_test";
    i18n.apply($("view-devices"));
  };
  document.body.dataset.devices = "checked";
  if (params.get("autojoin") !== "1") {
    await new Promise((resolve) => ($("join-button").onclick = resolve));
  }
  resumeAudio();
  stopMeter();
  return result.stream;
}

// ------------------------------------------------------------------ room rendering
function roleLabel(role) {
  return i18n.t(`role.${role}`);
}

function attach(media, track) {
  const want = track || null;
  const current = media.srcObject && media.srcObject.getTracks()[0];
  if (current === want) return;
  media.srcObject = want ? new MediaStream([want]) : null;
  if (want) media.play().catch(() => {}); // autoplay may wait for a click; the stats still flow
}

function waitedText(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return i18n.t("console.waited_seconds", { n: s });
  if (s < 3600) return i18n.t("console.waited_minutes", { n: Math.floor(s / 60) });
  return i18n.t("console.waited_hours", { h: Math.floor(s / 3600), m: Math.floor(s / 60) % 60 });
}

class Room {
  constructor(session, kiosk, api) {
    this.session = session;
    this.kiosk = kiosk;
    this.api = api; // (method, path under /api/hearings/{id}, body) with the page's token
    this.tiles = new Map(); // participant id -> {root, video, audio, label}
    this.evidence = new Map(); // participant id -> {root, video, label}: their shared screen
    this.speaker = null;
    this.startedAt = null; // ms on this machine's clock when the hearing began (Hearing.started_at)
    this.menuFor = null; // participant id whose menu is open
    this.menuFrom = "tile"; // which button opened it: the tile's "⋯" or the rooms panel's "移至…"
    this.rooms = null; // the console's RoomsPanel (moderators), once the page knows the clock
  }

  // Whose tile is shown: whom this page receives. A moderator: the people of their own room and
  // of the rooms they look into (everyone until the server's first rooms list). Anyone else gets
  // only their own room's people from the server; in the witness room only a moderator who came
  // in sends them anything, so only those whose media arrives get a tile.
  shows(p) {
    const s = this.session;
    if (s.grants.moderate && s.rooms.length) {
      const room = roomOf(s.rooms, p.id);
      return !room || room.id === (s.room ? s.room.id : "main") || s.watching.has(room.id);
    }
    if (s.room && s.room.kind === "witness") return Object.keys(s.remoteTracks(p.id)).length > 0;
    return true;
  }

  // A witness in the witness room with nobody speaking to them waits for the call.
  waitingForCall() {
    const s = this.session;
    if (s.grants.moderate || !s.room || s.room.kind !== "witness") return false;
    return ![...s.participants.values()].some((p) => p.id !== s.me.id && this.shows(p));
  }

  tile(p) {
    let t = this.tiles.get(p.id);
    if (t) return t;
    const video = el("video", { autoplay: "", playsinline: "" });
    video.muted = true;
    const audio = el("audio", { autoplay: "" });
    const label = el("div", { class: "label" });
    const menuButton = el("button", {
      type: "button",
      class: "tile-menu-button",
      "aria-haspopup": "menu",
      onclick: () => this.openMenu(p.id),
    }, "⋯");
    const root = el("div", { class: "tile person", dataset: { participantId: p.id, role: p.role } }, video, audio, label, menuButton);
    t = { root, video, audio, label, menuButton };
    this.tiles.set(p.id, t);
    return t;
  }

  // A shared screen: its own large tile, so that the sharer's camera stays in view beside it.
  evidenceTile(p, track) {
    let t = this.evidence.get(p.id);
    if (!t) {
      const video = el("video", { autoplay: "", playsinline: "" });
      video.muted = true;
      const label = el("div", { class: "label" });
      const root = el("div", { class: "tile evidence", dataset: { participantId: p.id, source: "screen" } }, video, label);
      t = { root, video, label };
      this.evidence.set(p.id, t);
    }
    attach(t.video, track);
    t.label.replaceChildren(el("span", { class: "name" }, i18n.t("room.evidence", { name: p.name })));
    return t;
  }

  render() {
    const s = this.session;
    const me = s.me;
    if (!me) return;
    const everyone = [me, ...[...s.participants.values()].filter((p) => p.id !== me.id && this.shows(p))];
    const present = new Set(everyone.map((p) => p.id));
    for (const [id, t] of this.tiles) {
      if (!present.has(id)) {
        t.root.remove();
        this.tiles.delete(id);
      }
    }
    // Shared screens (evidence) first and large; else the judge is large; without a judge in
    // the room, the first other participant is.
    const screens = new Map();
    for (const p of everyone) {
      const screen = p.id === me.id ? s.screenTrack : (s.remoteTracks(p.id).screen || {}).track;
      if (screen) screens.set(p.id, this.evidenceTile(p, screen));
    }
    for (const [id, t] of this.evidence) {
      if (!screens.has(id)) {
        t.root.remove();
        this.evidence.delete(id);
      }
    }
    const main = everyone.find((p) => p.role === "judge") || everyone.find((p) => p.id !== me.id) || me;
    const large = screens.size ? [...screens.values()][0] : this.tile(main);
    for (const t of screens.values()) {
      const target = t === large ? $("stage") : $("tiles");
      if (t.root.parentNode !== target) target.prepend(t.root);
    }
    for (const p of everyone) {
      const t = this.tile(p);
      const self = p.id === me.id;
      t.root.dataset.self = self ? "1" : "0";
      t.root.classList.toggle("speaking", this.speaker === p.id);
      if (self) {
        attach(t.video, s.stream.getVideoTracks()[0]);
      } else {
        const remote = s.remoteTracks(p.id);
        const videoInfo = remote.video && remote.video.info;
        const off = videoInfo && s.videoOff.has(videoInfo.publication_id);
        attach(t.video, remote.video && !off ? remote.video.track : null);
        attach(t.audio, remote.audio && remote.audio.track);
        t.root.dataset.publication = videoInfo ? videoInfo.publication_id : "";
      }
      this.label(t, p, self);
      const target = t === large ? $("stage") : $("tiles");
      if (t.root.parentNode !== target) target.append(t.root);
    }
  }

  label(t, p, self) {
    const s = this.session;
    const muted = p.muted || {};
    // Name and site never break inside a word (a court's name is one word): too long for a small
    // tile, they end in "…" and the tooltip has them whole.
    const name = p.name + (self ? i18n.t("room.you") : "");
    const parts = [
      el("span", { class: "name", title: name }, name),
      el("span", { class: "role" }, roleLabel(p.role)),
    ];
    if (p.site) {
      const site = i18n.t("console.site", { site: p.site });
      parts.push(el("span", { class: "site", title: site }, site));
    }
    // A moderator looking into another room sees whose picture comes from there.
    const room = !self && s.grants.moderate ? roomOf(s.rooms, p.id) : null;
    if (room && (!s.room || room.id !== s.room.id)) {
      parts.push(el("span", { class: "state room-tag", dataset: { roomId: room.id } }, roomName(room, s.hearing)));
    }
    if (s.grants.moderate && s.mediaProblems.has(p.id)) {
      parts.push(el("span", { class: "state", dataset: { media: "failed" } }, i18n.t("console.media_failed")));
    }
    if (muted.audio) parts.push(el("span", { class: "state", dataset: { muted: "audio" } }, i18n.t("room.muted_audio")));
    if (muted.video) parts.push(el("span", { class: "state", dataset: { muted: "video" } }, i18n.t("room.muted_video")));
    if (!self && s.grants.moderate && s.hands.has(p.id)) {
      parts.push(el("span", { class: "state hand", dataset: { hand: "raised" } }, i18n.t("console.hand_raised")));
    }
    // Whether the public stream hides them: for the court and for the person concerned only.
    if (p.masked && (self || s.grants.moderate)) {
      parts.push(el("span", { class: "state masked" }, i18n.t("console.masked")));
    }
    t.label.replaceChildren(...parts);
    const actions = self ? [] : this.actions(t, p);
    t.menuButton.hidden = actions.length === 0;
    t.menuButton.setAttribute("aria-label", i18n.t("tile.menu", { name: p.name }));
    t.menuButton.title = t.menuButton.getAttribute("aria-label");
    t.menuButton.setAttribute("aria-expanded", this.menuFor === p.id && this.menuFrom === "tile" ? "true" : "false");
  }

  // What the "⋯" menu of another participant's tile offers: [class suffix, text key, action,
  // {params of the text, roomId: where a move goes}?].
  // Each text says for whom it acts: only this screen ("我不看此画面") or everyone ("关闭其摄像头").
  actions(t, p) {
    const s = this.session;
    const muted = p.muted || {};
    const out = [];
    const pub = t.root.dataset.publication;
    if (pub) {
      const off = s.videoOff.has(pub);
      out.push(["video-off", off ? "tile.video_on_local" : "tile.video_off_local", () => s.setVideoOff(pub, !off)]);
    }
    if (!s.grants.moderate || this.kiosk) return out;
    if (s.hands.has(p.id)) out.push(["lower-hand", "console.lower_hand", () => s.lowerHand(p.id)]);
    for (const kind of ["audio", "video"]) {
      const isMuted = Boolean(muted[kind]);
      out.push([
        `mute-${kind}`,
        `console.${isMuted ? "unmute" : "mute"}_${kind}`,
        () => s.call("mute", { participant_id: p.id, kind, muted: !isMuted }),
      ]);
    }
    // Masking is about the public stream: a closed hearing has none.
    if (s.hearing && s.hearing.public) {
      out.push(["mask", p.masked ? "console.unmask" : "console.mask", () => this.setMasked(p, !p.masked)]);
    }
    out.push(...this.moveActions(p));
    out.push([
      "remove",
      "console.remove",
      () => {
        if (confirm(i18n.t("console.confirm_remove", { name: p.name }))) return s.call("remove", { participant_id: p.id });
        return null;
      },
    ]);
    return out;
  }

  // "移至…": every other open room and the lobby, each one action (docs/ROOMS.md `move`).
  moveActions(p) {
    const s = this.session;
    if (!s.grants.moderate || !s.rooms.length) return [];
    return moveTargets(s.rooms, roomOf(s.rooms, p.id), s.hearing).map(([name, key, params, roomId]) => [
      name,
      key,
      () => this.rooms.act(() => s.move(p.id, roomId)),
      { params, roomId },
    ]);
  }

  openMenu(pid, from = "tile") {
    const same = this.menuFor === pid && this.menuFrom === from;
    this.menuFor = same ? null : pid;
    this.menuFrom = from;
    this.refresh();
    if (this.menuFor) {
      const first = $("tile-menu").querySelector("button");
      if (first) first.focus();
    }
  }

  closeMenu() {
    if (!this.menuFor) return;
    const anchor = this.menuAnchor();
    this.menuFor = null;
    this.renderMenu();
    if (anchor) {
      anchor.setAttribute("aria-expanded", "false");
      anchor.focus();
    }
  }

  // The button the open menu belongs to (found afresh: the rooms panel is rebuilt on each change).
  menuAnchor() {
    if (!this.menuFor) return null;
    if (this.menuFrom === "rooms") {
      return document.querySelector(`#rooms-list li[data-participant-id="${CSS.escape(this.menuFor)}"] .act-move`);
    }
    const t = this.tiles.get(this.menuFor);
    return t ? t.menuButton : null;
  }

  // The one open menu, filled afresh with each render (its words follow the state) and placed by
  // its button, inside the viewport whatever the tile's place on the screen.
  renderMenu() {
    const menu = $("tile-menu");
    const anchor = this.menuAnchor();
    const p = anchor && (this.session.participants.get(this.menuFor) || null);
    let actions = [];
    if (p) actions = this.menuFrom === "rooms" ? this.moveActions(p) : this.actions(this.tiles.get(p.id), p);
    for (const b of document.querySelectorAll("#rooms-list .act-move")) b.setAttribute("aria-expanded", "false");
    if (this.menuFrom === "rooms" && anchor) anchor.setAttribute("aria-expanded", String(actions.length > 0));
    if (!actions.length || !anchor.isConnected) {
      this.menuFor = null;
      menu.hidden = true;
      delete menu.dataset.participantId;
      return;
    }
    menu.dataset.participantId = p.id;
    menu.dataset.from = this.menuFrom;
    menu.replaceChildren(
      ...actions.map(([name, key, run, extra = {}]) =>
        el("button", {
          type: "button",
          role: "menuitem",
          class: `act-${name}${name === "remove" ? " danger" : ""}`,
          dataset: extra.roomId ? { roomId: extra.roomId } : {},
          onclick: () => {
            this.closeMenu();
            Promise.resolve(run()).catch(() => {});
          },
        }, i18n.t(key, extra.params)),
      ),
    );
    menu.hidden = false;
    this.placeMenu();
  }

  placeMenu() {
    const menu = $("tile-menu");
    const button = this.menuAnchor();
    if (menu.hidden || !button) return;
    const margin = 4;
    const anchor = button.getBoundingClientRect();
    menu.style.maxHeight = `${innerHeight - 2 * margin}px`;
    const box = menu.getBoundingClientRect();
    const left = Math.min(Math.max(margin, anchor.right - box.width), innerWidth - box.width - margin);
    let top = anchor.bottom + margin;
    if (top + box.height > innerHeight - margin) top = Math.max(margin, anchor.top - box.height - margin);
    menu.style.left = `${Math.max(margin, left)}px`;
    menu.style.top = `${top}px`;
  }

  async setMasked(p, masked) {
    try {
      const reply = await this.api("POST", `/participants/${encodeURIComponent(p.id)}/mask`, { masked });
      const current = this.session.participants.get(p.id);
      if (current) current.masked = reply.masked;
    } catch (_) {
      // The tile keeps showing the state the server last confirmed.
    }
    this.render();
  }

  renderLobby(waiting, receivedAt = performance.now()) {
    const list = $("lobby-list");
    list.replaceChildren(
      ...waiting.map((p) =>
        el(
          "li",
          { dataset: { participantId: p.id } },
          el("span", { class: "who" }, `${p.name} · ${roleLabel(p.role)}`,
            ...(p.site ? [" · ", el("span", { class: "site" }, i18n.t("console.site", { site: p.site }))] : [])),
          el("span", { class: "waited detail", dataset: { seconds: p.waited_seconds || 0 } }),
          el("button", { type: "button", class: "act-admit primary", onclick: () => this.session.call("admit", { participant_id: p.id }).catch(() => {}) }, i18n.t("console.admit")),
          el("button", { type: "button", class: "act-deny", onclick: () => this.session.call("deny", { participant_id: p.id }).catch(() => {}) }, i18n.t("console.deny")),
        ),
      ),
    );
    $("lobby-empty").hidden = waiting.length > 0;
    this.waiting = waiting;
    this.lobbyReceivedAt = receivedAt;
    if (this.rooms) this.rooms.labelTabs(waiting);
    this.updateWaited();
  }

  // The server counts the wait (`waited_seconds` when it sent the list); the page adds the time
  // since, so the texts move on between lobby events and no two clocks are compared. Only the
  // texts change: buttons under the judge's pointer are not rebuilt every second.
  updateWaited() {
    const since = (performance.now() - this.lobbyReceivedAt) / 1000;
    for (const span of $("lobby-list").querySelectorAll(".waited")) {
      span.textContent = waitedText(Number(span.dataset.seconds) + since);
    }
  }

  controls() {
    const s = this.session;
    const press = (id, on, onKey, offKey) => {
      $(id).setAttribute("aria-pressed", on ? "true" : "false");
      $(id).textContent = i18n.t(on ? onKey : offKey);
    };
    const muted = (s.me && s.me.muted) || {};
    press("btn-mic", muted.audio, "controls.mic_off", "controls.mic_on");
    press("btn-camera", muted.video, "controls.camera_off", "controls.camera_on");
    press("btn-screen", Boolean(s.screenTrack), "controls.screen_stop", "controls.screen_start");
    press("btn-lowbw", s.lowBandwidth, "controls.lowbw_on", "controls.lowbw_off");
    $("btn-mic").hidden = !s.stream.getAudioTracks().length;
    $("btn-camera").hidden = !s.stream.getVideoTracks().length;
    $("btn-screen").hidden = !(s.grants.publish && navigator.mediaDevices.getDisplayMedia) || this.kiosk;
    $("btn-end").hidden = !s.grants.moderate;
    $("court-muted").hidden = !(muted.audio && s.mutedByCourt.audio);
    $("btn-hand").textContent = i18n.t(s.handRaised ? "controls.hand_raised" : "controls.raise_hand");
    $("btn-hand").disabled = s.handRaised;
    $("console-side").hidden = !s.grants.moderate;
  }

  wire() {
    const s = this.session;
    const muted = (kind) => Boolean(s.me && s.me.muted && s.me.muted[kind]);
    $("btn-mic").onclick = () => s.setOwnMute("audio", !muted("audio"));
    $("btn-camera").onclick = () => s.setOwnMute("video", !muted("video"));
    $("btn-hand").onclick = () => s.raiseHand().catch(() => {});
    $("btn-screen").onclick = () => (s.screenTrack ? s.stopScreen() : s.shareScreen()).catch(() => {}).then(() => this.refresh());
    $("btn-lowbw").onclick = () => s.setLowBandwidth(!s.lowBandwidth).then(() => this.refresh());
    $("btn-end").onclick = () => {
      if (confirm(i18n.t("console.confirm_end"))) s.call("end_hearing", {}).catch(() => {});
    };
    document.addEventListener("click", (e) => {
      // A target gone from the page was a button that a render replaced: the one that opened it.
      const inside = !e.target.isConnected || e.target.closest("#tile-menu, .tile-menu-button, #rooms-list .act-move");
      if (this.menuFor && !inside) this.closeMenu();
    });
    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape") this.closeMenu();
    });
    window.addEventListener("resize", () => this.placeMenu());
    setInterval(() => this.tick(), 1000);
  }

  tick() {
    if (this.waiting) this.updateWaited();
    if (this.rooms) this.rooms.updateStays();
    $("clock").hidden = !this.startedAt;
    if (!this.startedAt) return;
    const secs = Math.max(0, Math.floor((Date.now() - this.startedAt) / 1000));
    const pad = (n) => String(n).padStart(2, "0");
    const time = `${pad(Math.floor(secs / 3600))}:${pad(Math.floor(secs / 60) % 60)}:${pad(secs % 60)}`;
    $("clock").textContent = i18n.t("console.clock", { time });
  }

  // Where I am, always in view: "您在：主法庭"; a moderator also sees what they look into. A
  // witness waiting to be called gets the waiting screen in place of the pictures.
  renderRoom() {
    const s = this.session;
    const banner = $("room-banner");
    banner.hidden = !s.room;
    const waiting = this.waitingForCall();
    $("witness-wait").hidden = !waiting;
    $("media-area").hidden = waiting;
    document.body.dataset.room = s.room ? s.room.kind : "";
    if (!s.room) return;
    banner.dataset.roomId = s.room.id;
    banner.dataset.roomKind = s.room.kind;
    const here = i18n.t("rooms.you_are_in", { room: roomName(s.room, s.hearing) });
    const looked = s.grants.moderate
      ? s.rooms.filter((r) => r.id !== s.room.id && s.watching.has(r.id)).map((r) => roomName(r, s.hearing))
      : [];
    $("room-here").textContent = here;
    $("room-watching").hidden = !looked.length;
    $("room-watching").textContent = looked.length ? i18n.t("rooms.looking_into", { rooms: looked.join("、") }) : "";
    if (waiting) attach($("wait-preview"), s.stream.getVideoTracks()[0]);
  }

  refresh() {
    this.render();
    this.renderRoom();
    if (this.rooms) this.rooms.render(this.waiting);
    this.renderMenu();
    this.controls();
    if (this.waiting) this.renderLobby(this.waiting, this.lobbyReceivedAt);
  }
}

// ------------------------------------------------------------------ wiring
// The end of the hearing is no fault: a neutral "ended", not the red "closed".
function setConn(state, finalKind = null) {
  const final = finalKind === "ended" ? "ended" : "closed";
  const conn = { room: "connected", lobby: "connected", final }[state] || state;
  $("conn-state").dataset.state = conn;
  $("conn-state").textContent = i18n.t(`conn.${conn}`);
}

// The hearing a token is for (its unverified `hearing` claim), or null if it cannot be read.
function tokenHearing(jwt) {
  try {
    const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const claim = JSON.parse(atob(part)).hearing;
    return typeof claim === "string" ? claim : null;
  } catch (_) {
    return null;
  }
}

// The hearing the link is for (GET /api/hearings/{id} with the link's token) and how far this
// machine's clock is ahead of the server's; {refused: true} for a token the server refuses
// (revoked, expired: 401) or a hearing it does not know (404); null when the server cannot be
// asked (the join tries again and says why).
async function fetchHearing(hearingId) {
  try {
    const sent = Date.now();
    const res = await fetch(`/api/hearings/${encodeURIComponent(hearingId)}`, {
      cache: "no-store",
      headers: { Authorization: `Bearer ${token}` },
    });
    if (res.status === 401 || res.status === 404) return { refused: true };
    if (!res.ok) return null;
    const hearing = await res.json();
    // The Date header has whole seconds: only a clock that is clearly off is corrected, so that
    // machines whose clocks are right all show the same time.
    const server = Date.parse(res.headers.get("Date") || "");
    const offset = Number.isNaN(server) ? 0 : Date.now() / 2 + sent / 2 - server - 500;
    return { hearing, clockOffset: Math.abs(offset) > 1500 ? offset : 0 };
  } catch (_) {
    return null;
  }
}

async function main() {
  await i18n.use("/static/i18n/{lang}.json");
  i18n.apply();
  i18n.bindSwitch($("lang-switch"));
  const kiosk = params.get("kiosk") === "1";
  if (kiosk) document.body.classList.add("kiosk");
  if (!token) {
    message("message.refused", "message.no_token");
    return;
  }
  const hearingId = decodeURIComponent(location.pathname.split("/").pop());
  // Said before the device check: a link whose token is for another hearing goes nowhere (the
  // server refuses it too, as it serves the page and on join).
  const claimed = tokenHearing(token);
  if (claimed !== null && claimed !== hearingId) {
    setConn("final");
    message("message.wrong_hearing", "message.wrong_hearing_text");
    return;
  }
  setConn("connecting");
  // The hearing first: a link opened after it ended says so before any device check, and the
  // device check names the case the person is about to enter.
  const known = await fetchHearing(hearingId);
  if (known && known.refused) {
    setConn("final");
    message("message.refused", "message.refused_text");
    return;
  }
  if (known && known.hearing.state === "ended") {
    setConn("final", "ended");
    message("message.ended", "message.ended_text");
    return;
  }
  const clockOffset = known ? known.clockOffset : 0;
  const showHearing = (h) => {
    $("hearing-title").textContent = h ? `${h.case_number} ${h.title}` : "";
    $("hearing-title").title = $("hearing-title").textContent;
    $("device-hearing").hidden = !h;
    $("device-case").textContent = h ? h.case_number : "";
    $("device-title").textContent = h ? h.title : "";
  };
  showHearing(known && known.hearing);
  const stream = await deviceCheck();
  const session = new Session(token, stream, hearingId);
  // Moderators only: the recording and public-stream panel polls while they are in the room.
  const broadcast = new BroadcastPanel(token, hearingId);
  const room = new Room(session, kiosk, (method, path, body) => broadcast.api(method, path, body));
  room.rooms = new RoomsPanel(session, (pid) => room.openMenu(pid, "rooms"), clockOffset);
  cc.session = session;
  cc.room = room;
  room.wire();
  session.on("state", (state) => {
    setConn(state, session.finalKind);
    document.body.dataset.session = state;
    if (state === "lobby") show("lobby");
    if (state === "room") {
      if (session.me && session.me.role === "site") document.body.classList.add("kiosk");
      room.kiosk = room.kiosk || session.me.role === "site";
      show("room");
      room.refresh();
    }
  });
  session.on("final", ({ kind }) => message(`message.${kind}`, `message.${kind}_text`));
  for (const name of ["participants", "tracks", "local", "hands", "room", "rooms"]) session.on(name, () => room.refresh());
  session.on("speaker", (id) => {
    room.speaker = id;
    room.render();
  });
  session.on("lobby", (waiting) => room.renderLobby(waiting));
  session.on("media", (failed) => ($("media-banner").hidden = failed.size === 0));
  session.on("hearing", (h) => {
    showHearing(h);
    // Everyone counts from the same moment, the session's start, on the server's clock.
    room.startedAt = h && h.started_at ? Date.parse(h.started_at) + clockOffset : null;
    room.tick();
  });
  session.on("hearing", (h) => broadcast.setHearing(h));
  session.on("state", (state) => {
    if (state === "room" && session.grants.moderate) broadcast.start();
    if (state === "final") broadcast.stop();
  });
  let alarm = null;
  const showAlarm = () => {
    const banner = $("alarm-banner");
    banner.hidden = !alarm;
    if (!alarm) return;
    const key = `alarm.${alarm.code}`;
    banner.textContent = i18n.t(key) !== key ? i18n.t(key) : i18n.t("alarm.default", { message: alarm.message });
    banner.dataset.code = alarm.code;
    banner.dataset.source = alarm.source || "";
  };
  session.on("alarm", (a) => {
    alarm = a;
    showAlarm();
    if (a.source === "recorder") broadcast.noteAlarm(a);
    if (a.source === "recorder" || a.source === "livestream") broadcast.poll();
  });
  i18n.onChange(() => {
    setConn(session.state, session.finalKind);
    room.refresh();
    showAlarm();
    broadcast.render();
  });
  session.start();
}

main();
