// The judge console's recording and public-stream panel (docs/API.md "Recordings" and "Public
// streams"): it polls the recording's state with the moderator's token, pauses and resumes it
// with a reason typed into the panel, and starts/stops the public stream of a public hearing.
// A closed (non-public) hearing gets no start button at all: it is never streamed.

import * as i18n from "./i18n.js";

const POLL_MS = 3000;
const $ = (id) => document.getElementById(id);

function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds || 0));
  const pad = (n) => String(n).padStart(2, "0");
  return `${pad(Math.floor(s / 3600))}:${pad(Math.floor(s / 60) % 60)}:${pad(s % 60)}`;
}

export class BroadcastPanel {
  constructor(token, hearingId) {
    this.token = token;
    this.hearingId = hearingId;
    this.hearing = null;
    this.recording = null; // the last GET …/recordings/state answer (the light one, for polling)
    this.live = null; // {live, delay} once known
    this.asking = null; // "pause" | "resume" while the reason form is open
    this.error = null; // {key, message} of the last failed action
    this.damaged = false; // the recorder found the record damaged (alarm recording_chain_damaged)
    this.timer = null;
    this.busy = false;
    $("rec-toggle").onclick = () => this.ask(this.recording.state === "paused" ? "resume" : "pause");
    $("rec-cancel").onclick = () => this.ask(null);
    $("rec-form").onsubmit = (e) => {
      e.preventDefault();
      this.pauseOrResume();
    };
    $("live-start").onclick = () => this.setLive("start");
    $("live-stop").onclick = () => this.setLive("stop");
  }

  async api(method, path, body) {
    const res = await fetch(`/api/hearings/${this.hearingId}${path}`, {
      method,
      cache: "no-store",
      headers: { Authorization: `Bearer ${this.token}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw Object.assign(new Error(data.error || `HTTP ${res.status}`), data);
    return data;
  }

  start() {
    if (this.timer) return;
    this.poll();
    this.timer = setInterval(() => this.poll(), POLL_MS);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
  }

  setHearing(hearing) {
    this.hearing = hearing;
    this.render();
  }

  async poll() {
    if (this.busy) return;
    this.busy = true;
    try {
      this.recording = await this.api("GET", "/recordings/state");
      if (this.hearing && this.hearing.public) await this.pollLive();
    } catch (_) {
      // The server is away (the session shows the reconnect); the next poll tries again.
    } finally {
      this.busy = false;
    }
    this.render();
  }

  async pollLive() {
    const state = await this.api("GET", "/live");
    this.live = { live: state.live, delay: state.delay_seconds };
  }

  ask(action) {
    this.asking = action;
    this.error = null;
    $("rec-reason").value = "";
    this.render();
    if (action) $("rec-reason").focus();
  }

  async pauseOrResume() {
    const reason = $("rec-reason").value.trim();
    if (!reason) {
      this.error = { key: "rec.reason_required" };
      this.render();
      return;
    }
    try {
      const reply = await this.api("POST", `/recording/${this.asking}`, { reason });
      this.asking = null;
      this.error = null;
      if (this.recording) {
        // The answer carries the manifest entry: the pause reason shows before the next poll.
        this.recording.state = reply.state;
        this.recording.paused = reply.state === "paused" ? reply.entry : null;
      }
    } catch (err) {
      this.error = { key: "broadcast.failed", message: err.message };
    }
    this.render();
    this.poll();
  }

  async setLive(action) {
    try {
      const reply = await this.api("POST", `/live/${action}`, {});
      this.live = { live: reply.live, delay: reply.delay_seconds };
      this.error = null;
    } catch (err) {
      this.error = { key: "broadcast.failed", message: err.message };
    }
    this.render();
  }

  render() {
    this.renderRecording();
    this.renderLive();
    const error = $("broadcast-error");
    error.hidden = !this.error;
    if (this.error) error.textContent = i18n.t(this.error.key, { message: this.error.message || "" });
  }

  renderRecording() {
    const rec = this.recording;
    const state = rec ? rec.state : "none";
    $("rec-state").dataset.state = state;
    $("rec-state").textContent = i18n.t(`rec.state.${state}`);
    $("rec-detail").textContent = rec && rec.duration_seconds ? i18n.t("rec.duration", { time: clock(rec.duration_seconds) }) : "";
    this.renderIntegrity(rec);
    const pause = state === "paused" ? rec.paused : null;
    $("rec-reason-shown").hidden = !pause;
    $("rec-reason-shown").textContent = pause ? i18n.t("rec.paused_reason", { reason: pause.reason }) : "";

    const canToggle = state === "recording" || state === "paused";
    if (!canToggle) this.asking = null;
    $("rec-toggle").hidden = !canToggle || Boolean(this.asking);
    $("rec-toggle").textContent = i18n.t(state === "paused" ? "rec.resume" : "rec.pause");
    $("rec-form").hidden = !this.asking;
    if (this.asking) $("rec-confirm").textContent = i18n.t(`rec.confirm_${this.asking}`);
  }

  // In the judge's words: whether the record is whole. Every sealed segment's hash is chained in
  // the manifest as it is written; the recorder alarms when it finds the record damaged. The
  // chain's head and the segment count are for the technician, in the tooltip.
  renderIntegrity(rec) {
    const box = $("rec-integrity");
    // Before the first manifest entry there is nothing to vouch for.
    const started = Boolean(rec && rec.manifest_entries);
    const verdict = this.damaged ? "damaged" : started ? "ok" : "none";
    box.dataset.integrity = verdict;
    box.hidden = verdict === "none";
    box.textContent = verdict === "none" ? "" : i18n.t(`rec.integrity.${verdict}`);
    box.title = started ? i18n.t("rec.integrity.detail", { segments: rec.segments || 0, head: rec.chain_head }) : "";
  }

  // A recorder alarm that says the record itself was found damaged.
  noteAlarm(alarm) {
    if (alarm.code === "recording_chain_damaged") this.damaged = true;
    this.render();
  }

  renderLive() {
    const h = this.hearing;
    const closed = !h || !h.public;
    const ended = h && h.state === "ended";
    const live = Boolean(this.live && this.live.live);
    let text;
    if (!h) text = "";
    else if (closed) text = i18n.t("live.closed");
    else if (live) {
      const delay = this.live.delay;
      text = delay == null ? i18n.t("live.on") : i18n.t("live.on_delay", { delay: Math.round(delay) });
    } else text = i18n.t("live.off");
    $("live-state").textContent = text;
    $("live-state").dataset.live = live ? "1" : "0";
    // Never a start button for a closed hearing: the server would refuse (403), and the judge
    // should not be invited to try.
    $("live-start").hidden = closed || ended || live;
    $("live-stop").hidden = closed || !live;
  }
}
