// Rooms within a hearing (docs/ROOMS.md) on the page: what a room is called, and the console's
// rooms panel — every room with its members and how long each has been there, open and close a
// private room, look into a room ("查看") without going there, go into one oneself ("进入",
// to speak into it or shuttle between caucuses). Moving someone else is the "移至…" menu, which
// join.js's Room shares with the tile menu (moveActions).

import * as i18n from "./i18n.js";
import { el, fill } from "./dom.js";

const $ = (id) => document.getElementById(id);

// A room's name in the page's language: the server's `name` is shown for private rooms only; a
// private room of a mediation is a mediation room (背靠背 caucus), of a court hearing a private one.
export function roomName(room, hearing) {
  if (room.kind === "main" || room.kind === "witness") return i18n.t(`rooms.${room.kind}`);
  const key = hearing && hearing.kind === "mediation" ? "rooms.private_mediation" : "rooms.private";
  return i18n.t(key, { name: room.name });
}

// How long someone has been in a room, in whole seconds, minutes, or hours and minutes.
export function stayText(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return i18n.t("rooms.stay_seconds", { n: s });
  if (s < 3600) return i18n.t("rooms.stay_minutes", { n: Math.floor(s / 60) });
  return i18n.t("rooms.stay_hours", { h: Math.floor(s / 3600), m: Math.floor(s / 60) % 60 });
}

// The room a participant is in, from the moderators' `rooms` list (null if it does not list them).
export function roomOf(rooms, participantId) {
  return rooms.find((r) => r.members.some((m) => m.participant_id === participantId)) || null;
}

// Where a moderator can move someone who is in `current`: every other open room, then back to the
// lobby. [class suffix, text key, its parameters, room id].
export function moveTargets(rooms, current, hearing) {
  const out = rooms
    .filter((r) => !current || r.id !== current.id)
    .map((r) => [`move-${r.kind}`, "rooms.move_to", { room: roomName(r, hearing) }, r.id]);
  out.push(["move-lobby", "rooms.move_lobby", null, "lobby"]);
  return out;
}

// The console's side holds the lobby and the broadcast panel ("候审与录制") or the rooms panel
// ("庭内房间"), a tab each: all of them at once do not fit a 1366×768 screen without scrolling.
// The hearing's tab comes first, as the console was before rooms; the tabs say what waits behind.
// On a portrait screen the side is a drawer under the pictures (css/court.css): `open` says
// whether a panel is shown there in their place; tapping the open tab again closes it.
export class SideTabs {
  constructor() {
    this.tab = "hearing";
    this.open = false;
    for (const name of ["hearing", "rooms"]) $(`tab-${name}`).onclick = () => this.show(name);
  }

  show(name) {
    this.open = !(this.open && this.tab === name);
    this.tab = name;
    $("console-side").dataset.tab = name;
    $("console-side").dataset.open = this.open ? "1" : "0";
    for (const panel of $("console-side").querySelectorAll(".panel[data-tab]")) panel.hidden = panel.dataset.tab !== name;
    for (const other of ["hearing", "rooms"]) $(`tab-${other}`).setAttribute("aria-selected", String(other === name));
  }

  // waiting: how many wait in the lobby; privateRooms: how many private rooms are open.
  label(waiting, privateRooms) {
    $("tab-hearing").textContent = waiting ? i18n.t("side.hearing_waiting", { n: waiting }) : i18n.t("side.hearing");
    $("tab-rooms").textContent = privateRooms ? i18n.t("side.rooms_open", { n: privateRooms }) : i18n.t("side.rooms");
  }
}

export class RoomsPanel {
  // onMoveMenu(pid): open the "移至…" menu of that member (join.js's Room owns the one menu);
  // clockOffset: how far this machine's clock is ahead of the server's, in ms.
  constructor(session, onMoveMenu, clockOffset) {
    this.session = session;
    this.onMoveMenu = onMoveMenu;
    this.clockOffset = clockOffset;
    this.error = null;
    this.tabs = new SideTabs();
    $("room-open-form").onsubmit = (e) => {
      e.preventDefault();
      const name = $("room-name").value.trim();
      if (!name) return this.fail({ message: i18n.t("rooms.name_required") });
      this.act(() => this.session.openRoom(name)).then((ok) => {
        if (ok) $("room-name").value = "";
      });
      return null;
    };
  }

  // Runs one room action; a refusal (the server's error sentence) shows under the panel.
  async act(run) {
    try {
      await run();
      this.error = null;
      this.renderError();
      return true;
    } catch (err) {
      this.fail(err);
      return false;
    }
  }

  fail(err) {
    this.error = err.error || err.message || "";
    this.renderError();
  }

  renderError() {
    $("rooms-error").hidden = !this.error;
    $("rooms-error").textContent = this.error ? i18n.t("rooms.failed", { message: this.error }) : "";
  }

  labelTabs(waiting) {
    this.tabs.label((waiting || []).length, this.session.rooms.filter((r) => r.kind === "private").length);
  }

  // waiting: the lobby's list (its count goes on the hearing's tab).
  render(waiting) {
    const s = this.session;
    const mine = s.room ? s.room.id : null;
    this.labelTabs(waiting);
    fill($("rooms-list"), ...s.rooms.map((room) => this.room(room, room.id === mine)));
    this.renderError();
    this.updateStays();
  }

  // One room: its name, how many are in it and the buttons on one line (wrapping when narrow),
  // then its members, each a button that opens their "移至…" menu.
  room(room, here) {
    const s = this.session;
    const watching = s.watching.has(room.id);
    const name = roomName(room, s.hearing);
    const button = (cls, text, run, attrs = {}) =>
      el("button", { type: "button", class: cls, onclick: () => this.act(run), ...attrs }, text);
    return el(
      "li",
      { class: "room", dataset: { roomId: room.id, roomKind: room.kind, here: here ? "1" : "0" } },
      el("div", { class: "room-head" },
        el("strong", { class: "room-name", title: name }, name),
        el("span", { class: "detail" }, i18n.t("rooms.count", { n: room.members.length })),
        here && el("span", { class: "badge here" }, i18n.t("rooms.here")),
        !here && button("act-watch", i18n.t(watching ? "rooms.watching" : "rooms.watch"),
          () => s.watchRoom(room.id, !watching),
          { "aria-pressed": watching ? "true" : "false", title: i18n.t("rooms.watch_hint") }),
        !here && button("act-enter", i18n.t("rooms.enter"), () => s.move(s.me.id, room.id)),
        room.kind === "private" && button("act-close danger", i18n.t("rooms.close"), () => s.closeRoom(room.id),
          { title: i18n.t("rooms.close_hint") }),
      ),
      room.members.length ? el("ul", { class: "members" }, ...room.members.map((m) => this.member(m))) : null,
    );
  }

  member(m) {
    const s = this.session;
    const self = s.me && m.participant_id === s.me.id;
    const p = self ? s.me : s.participants.get(m.participant_id);
    const name = p ? p.name + (self ? i18n.t("room.you") : "") : m.participant_id;
    const parts = [
      el("span", { class: "name", title: name }, name),
      p && el("span", { class: "role" }, i18n.t(`role.${p.role}`)),
      el("span", { class: "stay", dataset: { since: Date.parse(m.since) || "" } }),
    ];
    const body = self
      ? el("span", { class: "member" }, ...parts)
      : el("button", {
          type: "button",
          class: "member act-move",
          "aria-haspopup": "menu",
          "aria-expanded": "false",
          title: i18n.t("rooms.move_hint", { name }),
          onclick: () => this.onMoveMenu(m.participant_id),
        }, ...parts);
    return el("li", { dataset: { participantId: m.participant_id } }, body);
  }

  // Only the texts change each second: the buttons under the judge's pointer stay where they are.
  updateStays() {
    const now = Date.now() - this.clockOffset;
    for (const span of $("rooms-list").querySelectorAll(".stay")) {
      const since = Number(span.dataset.since);
      span.textContent = since ? stayText((now - since) / 1000) : "";
    }
  }
}
